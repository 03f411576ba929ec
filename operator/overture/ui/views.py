"""Pure functions from Kubernetes objects to what the UI's pages show. No I/O.

- ``flow_row`` / ``execution_row``: one compact row per object for the lists (an executions
  list of 10,000 rows is ~2 MB of JSON this way instead of ~50 MB of objects);
- ``gitops_owner``: whether a Flow is managed by Argo CD or Flux, and so read-only here;
- ``flow_source``: the YAML shown in the editor: the text saved by the UI (with its comments)
  when it still describes the object, else the object rendered in the order people write it;
- ``waiting_reasons``: why a task run is not running, from its pods and the Events about them;
- ``readable_file`` / ``stored_outputs_job`` / ``preview``: which of the artifact store's objects an
  execution's page may show, and the first bytes of one as text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from overture.api import LABEL_FLOW, FlowSpec, State, attempt_of_pod

SOURCE_ANNOTATION = "overture.dev/source"
MAX_SOURCE_BYTES = 128 * 1024  # annotations share 256 KiB per object
HIDDEN_ANNOTATIONS = (SOURCE_ANNOTATION, "kubectl.kubernetes.io/last-applied-configuration")
# How a person writes a flow: what it is, what it takes, what it does, when it runs.
SPEC_ORDER = [f.alias or name for name, f in FlowSpec.model_fields.items()]
TASK_FIRST = ("id", "type", "description", "dependsOn")
ARGO_MANAGERS = ("argocd-controller", "argocd-application-controller", "argocd-server")
FLUX_MANAGERS = ("kustomize-controller", "helm-controller")


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def flow_row(flow: Mapping[str, Any]) -> dict[str, Any]:
    meta, status = _meta(flow), flow.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    return {
        "namespace": meta.get("namespace"),
        "name": meta.get("name"),
        "ready": None if ready is None else ready.get("status") == "True",
        "message": (ready or {}).get("message"),
        "tasks": status.get("taskCount"),
        "triggers": status.get("triggerSummary"),
        "suspended": bool((flow.get("spec") or {}).get("suspend")),
        "lastExecution": status.get("lastExecution"),
        "created": meta.get("creationTimestamp"),
    }


def execution_row(execution: Mapping[str, Any]) -> dict[str, Any]:
    meta, spec, status = _meta(execution), execution.get("spec") or {}, execution.get("status") or {}
    return {
        "namespace": meta.get("namespace"),
        "name": meta.get("name"),
        "flow": (spec.get("flowRef") or {}).get("name") or (meta.get("labels") or {}).get(LABEL_FLOW),
        "state": status.get("state") or "CREATED",
        "trigger": (spec.get("trigger") or {}).get("type") or "manual",
        "labels": meta.get("labels") or {},
        "created": meta.get("creationTimestamp"),
        "start": status.get("startDate"),
        "end": status.get("endDate"),
    }


def matches(row: Mapping[str, Any], flow: str, states: set[str], label: str, since: str) -> bool:
    """Whether an execution row passes the list's filters (empty filters pass everything).

    ``label`` is ``key`` or ``key=value``; ``since`` an RFC 3339 time compared with the creation time.
    """
    if flow and row["flow"] != flow:
        return False
    if states and row["state"] not in states:
        return False
    if label:
        key, has_value, value = label.partition("=")
        labels = row["labels"]
        if key.strip() not in labels or (has_value and labels[key.strip()] != value.strip()):
            return False
    return not (since and (row["created"] or "") < since)


def gitops_owner(obj: Mapping[str, Any]) -> str | None:
    """A sentence saying which GitOps tool manages ``obj`` and where to change it; None if none does."""
    meta = _meta(obj)
    labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
    managers = {str(m.get("manager") or "") for m in meta.get("managedFields") or []}
    tracking = annotations.get("argocd.argoproj.io/tracking-id")
    if tracking or "argocd.argoproj.io/instance" in labels or managers & set(ARGO_MANAGERS):
        app = (
            (tracking or "").split(":")[0]
            or labels.get("argocd.argoproj.io/instance")
            or labels.get("app.kubernetes.io/instance")
        )
        where = f"Argo CD application {app!r}" if app else "Argo CD"
        return f"Managed by {where}: change it in the Git repository that application syncs from."
    flux = labels.get("kustomize.toolkit.fluxcd.io/name") or labels.get("helm.toolkit.fluxcd.io/name")
    if flux or managers & set(FLUX_MANAGERS):
        where = f"Flux {flux!r}" if flux else "Flux"
        return f"Managed by {where}: change it in the Git repository Flux applies from."
    return None


def _ordered_task(task: Any) -> Any:
    if not isinstance(task, dict):
        return task
    first = {k: task[k] for k in TASK_FIRST if k in task}
    rest = {k: _ordered_children(k, v) for k, v in task.items() if k not in first}
    return {**first, **rest}


def _ordered_children(key: str, value: Any) -> Any:
    if isinstance(value, list) and key in ("tasks", "then", "else", "errors", "finally", "triggers", "inputs"):
        return [_ordered_task(t) for t in value]
    if isinstance(value, dict) and key == "cases":
        return {k: [_ordered_task(t) for t in v] if isinstance(v, list) else v for k, v in value.items()}
    return value


def flow_document(flow: Mapping[str, Any]) -> dict[str, Any]:
    """What a person wrote: apiVersion, kind, metadata (name, namespace, labels, annotations), spec."""
    meta = _meta(flow)
    metadata: dict[str, Any] = {"name": meta.get("name"), "namespace": meta.get("namespace")}
    if meta.get("labels"):
        metadata["labels"] = dict(meta["labels"])
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in HIDDEN_ANNOTATIONS}
    if annotations:
        metadata["annotations"] = annotations
    spec = dict(flow.get("spec") or {})
    ordered = {k: spec[k] for k in SPEC_ORDER if k in spec} | {k: v for k, v in spec.items() if k not in SPEC_ORDER}
    ordered = {k: _ordered_children(k, v) for k, v in ordered.items()}
    return {"apiVersion": flow.get("apiVersion"), "kind": "Flow", "metadata": metadata, "spec": ordered}


def _canonical(doc: Any) -> str:
    return json.dumps(doc, sort_keys=True, default=str)


def flow_source(flow: Mapping[str, Any]) -> str:
    """The flow's YAML for the editor (see the module docstring)."""
    document = flow_document(flow)
    saved = (_meta(flow).get("annotations") or {}).get(SOURCE_ANNOTATION)
    if saved:
        try:
            parsed = yaml.safe_load(saved)
        except yaml.YAMLError:
            parsed = None
        # The same spec and labels as the object: nobody changed it since the UI saved it.
        if isinstance(parsed, dict) and _canonical(parsed.get("spec")) == _canonical(flow.get("spec")):
            return str(saved)
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (scripts) as ``|`` blocks and list items indented, as people write them."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _string(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    if "\n" in text and all(line == line.rstrip() for line in text.splitlines()):
        return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", text)


_Dumper.add_representer(str, _string)


def with_source(document: dict[str, Any], text: str) -> dict[str, Any]:
    """``document`` to apply, carrying ``text`` in an annotation so its comments survive a reload."""
    if len(text.encode()) > MAX_SOURCE_BYTES:
        return document
    meta = dict(document.get("metadata") or {})
    meta["annotations"] = {**(meta.get("annotations") or {}), SOURCE_ANNOTATION: text}
    return {**document, "metadata": meta}


PROBLEM_PATH = re.compile(r"^((?:spec|metadata|apiVersion|kind)(?:[.\[][^:\s]*)?):\s")


def problem_entries(problems: Iterable[str]) -> list[dict[str, str | None]]:
    """``overture validate``'s messages with the path each starts with (the editor finds its line)."""
    entries: list[dict[str, str | None]] = []
    for problem in problems:
        found = PROBLEM_PATH.match(problem)
        entries.append({"path": found.group(1) if found else None, "message": problem})
    return entries


WAITING_REASONS = {
    "ErrImagePull": "the image cannot be pulled",
    "ImagePullBackOff": "the image cannot be pulled",
    "InvalidImageName": "the image name is invalid",
    "CreateContainerConfigError": "the container cannot be configured (a missing Secret or ConfigMap?)",
    "CrashLoopBackOff": "the container keeps crashing",
}
UNFINISHED_RUNS = {State.CREATED.value, State.QUEUED.value, State.RUNNING.value, State.RETRYING.value}
EVENT_REASONS = ("FailedScheduling", "FailedCreate", "FailedMount", "Failed", "BackOff", "FailedAttachVolume")


def waiting_reasons(
    runs: Iterable[Mapping[str, Any]], pods: Iterable[Mapping[str, Any]], events: Iterable[Mapping[str, Any]]
) -> list[dict[str, str]]:
    """Why unfinished task runs are not running: the scheduler, quota, image pulls, mounts.

    ``pods`` are the execution's pods; ``events`` the Events of its namespace about those pods
    and its Jobs (a ResourceQuota refusal is a ``FailedCreate`` Event on the Job).
    """
    jobs: dict[str, str] = {}
    for run in runs:
        if run.get("state") in UNFINISHED_RUNS:
            for attempt in run.get("attempts") or []:
                jobs[str(attempt.get("job"))] = str(run.get("id"))
    reasons: list[dict[str, str]] = []
    pod_jobs: dict[str, str] = {}
    for pod in pods:
        job = attempt_of_pod(_meta(pod))
        if job not in jobs:
            continue
        pod_jobs[str(_meta(pod).get("name"))] = job
        for container in (pod.get("status") or {}).get("containerStatuses") or []:
            waiting = (container.get("state") or {}).get("waiting") or {}
            why = WAITING_REASONS.get(str(waiting.get("reason")))
            if why:
                text = f"{why}: {waiting.get('reason')}: {waiting.get('message') or ''}".rstrip(": ")
                reasons.append({"task": jobs[job], "reason": str(waiting.get("reason")), "message": text})
    seen = {(r["task"], r["reason"]) for r in reasons}
    for event in sorted(events, key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or "")):
        involved = event.get("involvedObject") or {}
        name, kind = str(involved.get("name")), involved.get("kind")
        job = name if kind == "Job" else pod_jobs.get(name)
        if job not in jobs or event.get("reason") not in EVENT_REASONS:
            continue
        key = (jobs[job], str(event.get("reason")))
        if key in seen:
            reasons = [r for r in reasons if (r["task"], r["reason"]) != key]
        seen.add(key)
        reasons.append({"task": jobs[job], "reason": key[1], "message": str(event.get("message") or "")})
    return reasons


# --- files in the artifact store ----------------------------------------------------------------

PREVIEW_BYTES = 64 * 1024  # a file's preview: enough to see a CSV's shape or a report's start
OUTPUTS_PREVIEW_BYTES = 1024 * 1024  # stored outputs are JSON a person reads whole, up to this


def file_references(execution: Mapping[str, Any]) -> set[str]:
    """Every ``s3://`` reference in an execution's inputs and its task runs' outputs (``files``)."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, str):
            if value.startswith("s3://"):
                found.add(value)
        elif isinstance(value, Mapping):
            for inner in value.values():
                walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    status = execution.get("status") or {}
    walk((execution.get("spec") or {}).get("inputs"))
    walk(status.get("inputs"))
    for run in status.get("taskRuns") or []:
        walk(run.get("outputs"))
    return found


def readable_file(execution: Mapping[str, Any], uri: str, key: str) -> bool:
    """Whether the page of ``execution`` may show the object ``key`` (``uri``): anything under the
    execution's own prefix (its attempts' files, outputs and logs, its FILE inputs), and what it
    refers to elsewhere in its namespace (a FILE input handed over from another execution).
    Never another namespace's: the caller's token was checked on this namespace only."""
    namespace, name = _meta(execution).get("namespace"), _meta(execution).get("name")
    if not namespace or not name or ".." in key.split("/"):
        return False
    if key.startswith(f"{namespace}/{name}/"):
        return True
    return key.startswith(f"{namespace}/") and uri in file_references(execution)


def stored_outputs_job(execution: Mapping[str, Any], job: str) -> bool:
    """Whether a task run of ``execution`` has its outputs in the store under ``job``."""
    runs = (execution.get("status") or {}).get("taskRuns") or []
    return any((run.get("outputsStored") or {}).get("job") == job for run in runs)


def preview(head: bytes, size: int) -> dict[str, Any]:
    """The first bytes of an object as text, or ``binary`` (a NUL byte, or not UTF-8)."""
    truncated = size > len(head)
    text: str | None = None
    if b"\0" not in head:
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if truncated and exc.start >= len(head) - 3:  # a character cut by the end of the preview
                text = head[: exc.start].decode("utf-8", "replace")
    return {"size": size, "shown": len(head), "truncated": truncated, "binary": text is None, "text": text}
