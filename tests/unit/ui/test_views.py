"""The UI server's pure parts: tokens, rows and filters, GitOps ownership, the editor's YAML,
validation paths and why a task is not running."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from overture.crd import flow_json_schema
from overture.ui import views
from overture.ui.auth import bearer_token


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (None, None),
        ("", None),
        ("Bearer", None),
        ("Bearer ", None),
        ("Basic YWRtaW46YWRtaW4=", None),
        ("Bearer a b", None),
        ("Bearer <script>", None),
        ("Bearer nothing", "nothing"),  # well-formed: the API server is the one that refuses it
        ("bearer eyJhbGciOi.eyJzdWIi.c2ln", "eyJhbGciOi.eyJzdWIi.c2ln"),
    ],
)
def test_bearer_tokens_are_read_strictly(header: str | None, token: str | None) -> None:
    headers = {} if header is None else {"authorization": header}
    assert bearer_token(headers) == token


FLOW: dict[str, Any] = {
    "apiVersion": "overture.dev/v1alpha1",
    "kind": "Flow",
    "metadata": {
        "name": "etl",
        "namespace": "data",
        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
        "managedFields": [{"manager": "kubectl"}],
    },
    "spec": {
        "triggers": [{"type": "schedule", "id": "nightly", "cron": "0 2 * * *"}],
        "tasks": [{"type": "python", "script": "import json\nprint(1)\n", "id": "extract"}],
        "description": "Load",
    },
    "status": {"conditions": [{"type": "Ready", "status": "True", "message": "ok"}], "taskCount": 1},
}


def test_the_rendered_yaml_reads_as_people_write_it() -> None:
    text = views.flow_source(FLOW)
    assert text.index("description:") < text.index("tasks:") < text.index("triggers:")
    assert "- id: extract\n      type: python\n      script: |" in text
    assert "last-applied" not in text
    assert "managedFields" not in text
    assert "status" not in text
    assert yaml.safe_load(text)["spec"] == FLOW["spec"]


def test_the_saved_text_with_its_comments_is_shown_while_it_still_describes_the_flow() -> None:
    saved = "# mine\n" + yaml.safe_dump({"spec": FLOW["spec"]})
    flow = {**FLOW, "metadata": {**FLOW["metadata"], "annotations": {views.SOURCE_ANNOTATION: saved}}}
    assert views.flow_source(flow) == saved
    changed = {**flow, "spec": {**FLOW["spec"], "description": "changed by kubectl"}}
    assert views.flow_source(changed) != saved
    assert "changed by kubectl" in views.flow_source(changed)
    big = views.with_source({"metadata": {"name": "x"}}, "#" * (views.MAX_SOURCE_BYTES + 1))
    assert "annotations" not in big["metadata"]


@pytest.mark.parametrize(
    ("metadata", "owner"),
    [
        ({"annotations": {"argocd.argoproj.io/tracking-id": "etl-app:overture.dev/Flow:data/etl"}}, "'etl-app'"),
        ({"labels": {"argocd.argoproj.io/instance": "platform"}}, "'platform'"),
        ({"managedFields": [{"manager": "argocd-controller"}]}, "Argo CD"),
        ({"labels": {"kustomize.toolkit.fluxcd.io/name": "flows"}}, "Flux 'flows'"),
        ({"managedFields": [{"manager": "helm-controller"}]}, "Flux"),
        ({"managedFields": [{"manager": "kubectl-client-side-apply"}, {"manager": "overture-ui"}]}, None),
    ],
)
def test_gitops_owners_are_recognised(metadata: dict[str, Any], owner: str | None) -> None:
    found = views.gitops_owner({"metadata": metadata})
    if owner is None:
        assert found is None
    else:
        assert found is not None
        assert owner in found
        assert "Git" in found


def test_rows_and_filters() -> None:
    row = views.execution_row(
        {
            "metadata": {
                "name": "e1",
                "namespace": "data",
                "labels": {"team": "x"},
                "creationTimestamp": "2026-01-02T00:00:00Z",
            },
            "spec": {"flowRef": {"name": "etl"}, "trigger": {"type": "schedule"}},
            "status": {"state": "FAILED"},
        }
    )
    assert row["flow"] == "etl"
    assert row["trigger"] == "schedule"
    assert row["state"] == "FAILED"
    assert views.matches(row, "etl", {"FAILED"}, "team=x", "2026-01-01T00:00:00Z")
    assert not views.matches(row, "other", set(), "", "")
    assert not views.matches(row, "", {"SUCCESS"}, "", "")
    assert not views.matches(row, "", set(), "team=y", "")
    assert views.matches(row, "", set(), "team", "")
    assert not views.matches(row, "", set(), "", "2026-02-01")
    assert views.flow_row(FLOW)["ready"] is True


def test_validation_messages_keep_their_path() -> None:
    entries = views.problem_entries(
        ['spec.tasks[2].retry.interval: "soon" is not a duration', "the YAML: not valid YAML at line 3, column 1: x"]
    )
    assert entries[0]["path"] == "spec.tasks[2].retry.interval"
    assert entries[1]["path"] is None


def test_the_editor_schema_is_closed_where_the_crd_lists_every_field() -> None:
    schema = flow_json_schema()
    assert schema["properties"]["spec"]["additionalProperties"] is False
    assert schema["properties"]["spec"]["properties"]["tasks"]["items"] == {"$ref": "#/definitions/task"}
    task = schema["definitions"]["task"]
    assert task["additionalProperties"] is False
    assert "id" in task["properties"]
    assert "status" not in schema["properties"]


def test_the_uis_editor_schema_has_no_reference() -> None:
    """The UI's editor (codemirror-json-schema's Draft04 linter) throws on a $ref in the Flow
    schema, and the editor never settles: the UI serves the CRD's shape, nested tasks free-form."""
    schema = flow_json_schema(nested_tasks=False)
    assert "$ref" not in json.dumps(schema)
    assert "definitions" not in schema
    task = schema["properties"]["spec"]["properties"]["tasks"]["items"]
    assert task["additionalProperties"] is False
    assert "id" in task["properties"]


def test_why_a_task_is_not_running() -> None:
    runs = [
        {"id": "a", "state": "RUNNING", "attempts": [{"job": "e-a-1"}]},
        {"id": "b", "state": "RUNNING", "attempts": [{"job": "e-b-1"}]},
        {"id": "c", "state": "SUCCESS", "attempts": [{"job": "e-c-1"}]},
    ]
    pods = [
        {"metadata": {"name": "e-a-1-x", "labels": {"job-name": "e-a-1"}}, "status": {}},
        {
            "metadata": {"name": "e-b-1-y", "labels": {"job-name": "e-b-1"}},
            "status": {
                "containerStatuses": [
                    {"state": {"waiting": {"reason": "ImagePullBackOff", "message": "no such image"}}}
                ]
            },
        },
    ]
    events = [
        {
            "involvedObject": {"kind": "Pod", "name": "e-a-1-x"},
            "reason": "FailedScheduling",
            "message": "0/2 nodes: cpu",
            "lastTimestamp": "1",
        },
        {
            "involvedObject": {"kind": "Pod", "name": "e-a-1-x"},
            "reason": "FailedScheduling",
            "message": "0/2 nodes: memory",
            "lastTimestamp": "2",
        },
        {
            "involvedObject": {"kind": "Job", "name": "e-c-1"},
            "reason": "FailedCreate",
            "message": "quota",
            "lastTimestamp": "1",
        },
        {
            "involvedObject": {"kind": "Job", "name": "e-b-1"},
            "reason": "FailedCreate",
            "message": "exceeded quota: q",
            "lastTimestamp": "3",
        },
    ]
    reasons = views.waiting_reasons(runs, pods, events)
    assert {"task": "a", "reason": "FailedScheduling", "message": "0/2 nodes: memory"} in reasons  # the newest only
    assert len([r for r in reasons if r["task"] == "a"]) == 1
    assert any(
        r["task"] == "b" and r["reason"] == "ImagePullBackOff" and "no such image" in r["message"] for r in reasons
    )
    assert any(r["task"] == "b" and r["reason"] == "FailedCreate" and "quota" in r["message"] for r in reasons)
    assert not any(r["task"] == "c" for r in reasons)  # finished: nothing to explain


# --- the artifact store's objects on an execution's page ----------------------------------------

FILE_EXECUTION: dict[str, Any] = {
    "metadata": {"namespace": "team", "name": "etl-1"},
    "spec": {"inputs": {"data": "s3://b/team/etl-0/job-a/files/data.csv"}},
    "status": {
        "taskRuns": [
            {
                "id": "extract",
                "outputs": {"rows": 3, "files": {"out/a.csv": "s3://b/team/etl-1/etl-1-x/files/out/a.csv"}},
            },
            {"id": "big", "outputsStored": {"job": "etl-1-big-1", "size": 5000}},
        ]
    },
}


@pytest.mark.parametrize(
    ("key", "readable"),
    [
        ("team/etl-1/etl-1-x/files/out/a.csv", True),  # its own task's file
        ("team/etl-1/etl-1-big-1/files/deep/b.bin", True),  # under its own prefix (stored outputs' files)
        ("team/etl-0/job-a/files/data.csv", True),  # a FILE input from another execution of its namespace
        ("team/etl-0/job-a/files/other.csv", False),  # another execution's file it does not refer to
        ("other-team/etl-1/etl-1-x/files/out/a.csv", False),  # another namespace, even with the same names
        ("team/etl-1/../etl-0/job-a/files/other.csv", False),
        ("team/etl-10/x/files/a", False),  # a prefix of its name is not its prefix
    ],
)
def test_an_execution_page_reads_its_own_objects_and_what_it_refers_to(key: str, readable: bool) -> None:
    assert views.readable_file(FILE_EXECUTION, f"s3://b/{key}", key) is readable


def test_stored_outputs_are_read_only_for_a_job_the_status_names() -> None:
    assert views.stored_outputs_job(FILE_EXECUTION, "etl-1-big-1")
    assert not views.stored_outputs_job(FILE_EXECUTION, "etl-1-x")


def test_a_preview_is_text_binary_or_cut_inside_a_character() -> None:
    csv = b"id,score\n1,<b>2</b>\n"
    assert views.preview(csv, len(csv)) == {
        "size": len(csv),
        "shown": len(csv),
        "truncated": False,
        "binary": False,
        "text": csv.decode(),
    }
    assert views.preview(b"\x89PNG\r\n\x1a\n\x00\x00", 4000)["binary"] is True
    assert views.preview(b"\xff\xfeabc", 5)["binary"] is True  # not UTF-8, and not cut
    cut = "é".encode()[:1]
    shown = views.preview(b"caf" + cut, 1000)
    assert (shown["text"], shown["truncated"], shown["binary"]) == ("caf", True, False)
