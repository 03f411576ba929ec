"""The commands on files, which need no cluster: ``overture validate``, ``overture crds`` and ``overture schema``
(which reads a namespace's templates from the cluster when given ``--namespace``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from overture.api import API_GROUP, SpecError, TemplateKind
from overture.cli.client import add_target_options, connect_from
from overture.cli.common import load_documents
from overture.documents import YamlDocument
from overture.template_tasks import Catalog, Published, published_from
from overture.validation import flow_problems

DEFAULT_CRD_DIR = "crds"
OTHER_OVERTURE_KINDS = frozenset({"Execution", "TaskTemplate", "ClusterTaskTemplate"})


def cmd_validate(args: argparse.Namespace) -> int:
    failed = 0
    loaded: list[tuple[Path, list[YamlDocument]]] = []
    for name in args.files:
        path = Path(name)
        try:
            loaded.append((path, load_documents(path)))
        except SpecError as exc:
            print(exc, file=sys.stderr)
            failed += 1
    # TaskTemplates among the files are checked, and the flows' template tasks against them
    templates = [(path, d, template_kind_of(d.value)) for path, docs in loaded for d in docs]
    published = {id(d): published_from(kind, d.value) for _, d, kind in templates if kind is not None}
    catalog = Catalog(published.values()) if published else None
    for path, docs in loaded:
        flows = [d for d in docs if is_flow_candidate(d.value)]
        if not flows and not any(id(d) in published for d in docs):
            kinds = ", ".join(sorted({str(d.value.get("kind")) for d in docs if isinstance(d.value, dict)}))
            print(f"{path}: no Flow in this file" + (f" (kinds: {kinds})" if kinds else ""), file=sys.stderr)
            failed += 1
        for doc in docs:
            if id(doc) in published:
                problems = doc.explain(list(published[id(doc)].problems))
            elif any(doc is flow for flow in flows):
                problems = flow_problems(doc, catalog)
            else:
                continue
            label = f"{path}" + (f" ({doc.value['metadata']['name']})" if _has_name(doc.value) else "")
            if problems:
                failed += 1
                print(f"{label}: invalid", file=sys.stderr)
                for problem in problems:
                    print(f"  {problem}", file=sys.stderr)
            elif not args.quiet:
                print(f"{label}: valid")
    return 1 if failed else 0


def template_kind_of(doc: Any) -> TemplateKind | None:
    """The kind of a TaskTemplate or ClusterTaskTemplate document of ours; None for anything else."""
    if not isinstance(doc, dict) or not str(doc.get("apiVersion", "")).startswith(f"{API_GROUP}/"):
        return None
    kind = doc.get("kind")
    return TemplateKind(kind) if kind in {k.value for k in TemplateKind} else None


def is_flow_candidate(doc: Any) -> bool:
    """Whether ``validate`` checks ``doc`` as a Flow.

    Objects of other APIs (a ConfigMap next to a Flow) and Executions are skipped; an Overture
    object of an unknown kind, or a Flow of another apiVersion, is checked so its error is shown.
    """
    if not isinstance(doc, dict):
        return True
    kind, api_version = doc.get("kind", "Flow"), doc.get("apiVersion")
    if kind == "Flow":
        return True
    is_ours = isinstance(api_version, str) and api_version.split("/")[0] == API_GROUP
    return is_ours and not (isinstance(kind, str) and kind in OTHER_OVERTURE_KINDS)


def _has_name(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("metadata"), dict) and "name" in doc["metadata"]


def cmd_crds(args: argparse.Namespace) -> int:
    from overture.crd import render_crds  # not for validate: it makes every model's JSON schema

    rendered = render_crds()
    if args.stdout:
        print("---\n".join(rendered.values()), end="")
        return 0
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.items():
        (out / name).write_text(text, encoding="utf-8")
        print(f"Wrote {out / name}")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from overture.crd import render_schema, render_template_schema  # as in cmd_crds

    if args.templates:
        text = render_template_schema()
    else:
        text = render_schema(_published_templates(args) if args.namespace else ())
    if args.output in (None, "-"):
        print(text, end="")
        return 0
    path = Path(args.output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"Wrote {path}")
    return 0


def _published_templates(args: argparse.Namespace) -> list[Published]:
    """The TaskTemplates of ``--namespace`` and the ClusterTaskTemplates, read from the cluster."""
    cluster = connect_from(args)
    found = [published_from(TemplateKind.TASK_TEMPLATE, o) for o in cluster.list_objects("tasktemplates")]
    for body in cluster.list_objects("clustertasktemplates", all_namespaces=True):
        found.append(published_from(TemplateKind.CLUSTER_TASK_TEMPLATE, body))
    return found


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    validate = sub.add_parser("validate", help="check Flow files; exit 1 if any is invalid")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument("-q", "--quiet", action="store_true", help="print only problems")
    validate.set_defaults(func=cmd_validate)

    crds = sub.add_parser("crds", help="write the CustomResourceDefinitions generated from the models")
    crds.add_argument("-o", "--output-dir", default=DEFAULT_CRD_DIR)
    crds.add_argument("--stdout", action="store_true", help="print them instead of writing files")
    crds.set_defaults(func=cmd_crds)

    schema = sub.add_parser("schema", help="write the JSON schema of Flow files, for editors (yaml-language-server)")
    schema.add_argument("-o", "--output", help="file to write (default: standard output)")
    schema.add_argument(
        "--templates", action="store_true", help="the schema of TaskTemplate and ClusterTaskTemplate files instead"
    )
    add_target_options(schema)  # --namespace: with the templates published there (and cluster-wide)
    schema.set_defaults(func=cmd_schema)
