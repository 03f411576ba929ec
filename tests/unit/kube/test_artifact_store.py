"""The artifact store's pure parts (kube/artifacts.py): settings, references, the POST policy, the
wrapper's plan, and Jobs built with the wrapper (kube/jobs.py ``build_job`` with a signer)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from datetime import timedelta
from typing import Any

import pytest

from overture.engine import CreateJob
from overture.kube.artifacts import (
    ArtifactError,
    StoreSettings,
    attempt_prefix,
    log_text,
    post_form,
    tail_options,
    wrapper_spec,
)
from overture.kube.jobs import build_job

SETTINGS = StoreSettings("http://10.244.0.1:17000", "overture", "us-east-1", "AK", "SK", wrapper_image="w:1")
ENV = {
    "OVERTURE_S3_ENDPOINT": "http://s3:9000/",
    "OVERTURE_S3_BUCKET": "b",
    "OVERTURE_S3_ACCESS_KEY_ID": "a",
    "OVERTURE_S3_SECRET_ACCESS_KEY": "s",
}


class FakeSigner:
    settings = SETTINGS

    def get_url(self, key: str) -> str:
        return f"GET {key}"

    def put_url(self, key: str) -> str:
        return f"PUT {key}"

    def post_form(self, prefix: str, max_bytes: int) -> dict[str, Any]:
        return {"url": "POST", "keyPrefix": prefix, "fields": {"max": str(max_bytes)}}


def test_settings_from_the_environment() -> None:
    assert StoreSettings.from_env({}) is None
    s = StoreSettings.from_env(ENV)
    assert s is not None
    assert s.endpoint == "http://s3:9000"
    assert s.region == "us-east-1"
    assert s.if_no_match == "fail"
    assert s.max_outputs_bytes == 1 << 20
    limited = StoreSettings.from_env({**ENV, "OVERTURE_MAX_OUTPUTS_BYTES": "4096"})
    assert limited is not None
    assert limited.max_outputs_bytes == 4096
    with pytest.raises(ValueError, match="OVERTURE_S3_BUCKET, OVERTURE_S3_SECRET_ACCESS_KEY"):
        StoreSettings.from_env({"OVERTURE_S3_ENDPOINT": "x", "OVERTURE_S3_ACCESS_KEY_ID": "a"})


def test_a_log_is_read_from_its_tail_and_says_so() -> None:
    assert tail_options(100, 1000) == {}
    assert tail_options(5000, 1000) == {"range": {"offset": 3999}}  # and the byte before
    assert log_text(b"one\ntwo\n", 8) == "one\ntwo\n"
    assert log_text(b"ne\ntwo\n", 1000) == "[overture] the archived log is 1000 bytes; its last 4 follow\ntwo\n"
    assert log_text(b"\ntwo\n", 1000) == "[overture] the archived log is 1000 bytes; its last 4 follow\ntwo\n"


def test_references() -> None:
    assert SETTINGS.uri("ns/ex/j/files/a.csv") == "s3://overture/ns/ex/j/files/a.csv"
    assert SETTINGS.key_of("s3://overture/ns/ex/j/files/a.csv") == "ns/ex/j/files/a.csv"
    assert SETTINGS.key_of("s3://other/ns/a.csv") is None
    assert attempt_prefix("ns", "ex", "ex-load-1") == "ns/ex/ex-load-1/"


def test_the_post_policy_admits_one_prefix_and_a_size() -> None:
    now = dt.datetime(2026, 1, 31, 12, 0, tzinfo=dt.UTC)
    form = post_form(SETTINGS, "ns/ex/j/files/", 1000, now, timedelta(hours=2))
    assert form == post_form(SETTINGS, "ns/ex/j/files/", 1000, now, timedelta(hours=2))  # pure
    fields = form["fields"]
    policy = json.loads(base64.b64decode(fields["policy"]))
    assert policy["expiration"] == "2026-01-31T14:00:00.000Z"
    assert ["starts-with", "$key", "ns/ex/j/files/"] in policy["conditions"]
    assert ["content-length-range", 0, 1000] in policy["conditions"]
    assert {"x-amz-date": "20260131T120000Z"} in policy["conditions"]
    assert fields["x-amz-credential"] == "AK/20260131/us-east-1/s3/aws4_request"
    assert len(fields["x-amz-signature"]) == 64
    assert form["url"] == "http://10.244.0.1:17000/overture"


def test_the_wrapper_plan() -> None:
    spec = wrapper_spec(
        FakeSigner(),
        "ns",
        "ns/ex/ex-b-1/",
        {"in/a.csv": "s3://overture/ns/other-ex/j/files/a.csv", "note.txt": "just text"},
        ("out/*.csv",),
    )
    assert spec["inputFiles"] == [
        {"path": "in/a.csv", "url": "GET ns/other-ex/j/files/a.csv"},
        {"path": "note.txt", "text": "just text"},
    ]
    assert spec["outputs"]["putURL"] == "PUT ns/ex/ex-b-1/outputs.json"
    assert spec["outputs"]["maxBytes"] == 1 << 20  # the wrapper fails the task past what the operator reads
    assert spec["log"] == {"putURL": "PUT ns/ex/ex-b-1/log"}
    files = spec["outputFiles"]
    assert files["upload"]["keyPrefix"] == "ns/ex/ex-b-1/files/"
    assert files["uriPrefix"] == "s3://overture/ns/ex/ex-b-1/files/"
    assert files["listPutURL"] == "PUT ns/ex/ex-b-1/files.json"
    assert "outputFiles" not in wrapper_spec(FakeSigner(), "ns", "p/", {}, ())
    assert "fromFiles" not in spec["outputs"]
    assert wrapper_spec(FakeSigner(), "ns", "p/", {}, (), {"n": "n.txt"})["outputs"]["fromFiles"] == {"n": "n.txt"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("s3://overture/team-b/ex/j/files/secret.csv", "belongs to another namespace than 'ns'"),
        ("s3://overture/ns/../team-b/ex/j/files/secret.csv", "has an empty, '.' or '..' segment"),
        ("s3://overture/ns/./../team-b/x", "has an empty, '.' or '..' segment"),
        ("s3://overture/ns//x", "has an empty, '.' or '..' segment"),
        ("s3://elsewhere/ns/x.csv", "is not in this store's bucket 'overture'"),
    ],
)
def test_a_reference_outside_the_namespace_is_refused(value: str, message: str) -> None:
    with pytest.raises(ArtifactError, match=message):
        wrapper_spec(FakeSigner(), "ns", "ns/ex/j/", {"a.csv": value}, ())


REQUEST = CreateJob(
    name="ex-b-1", task_run="b", task_id="b", attempt=1, image="busybox:1.36", command=("/bin/sh", "-ec", "true")
)


def job(request: CreateJob = REQUEST, signer: FakeSigner | None = None) -> dict[str, Any]:
    return build_job(request, namespace="ns", flow="f", execution="ex", execution_uid="u", signer=signer)


def test_with_a_store_the_command_runs_under_the_wrapper() -> None:
    pod = job(signer=FakeSigner())["spec"]["template"]["spec"]
    init = pod["initContainers"][0]
    assert init["image"] == "w:1"
    assert init["args"] == ["install", "/overture/bin/overture-wrapper"]
    task = pod["containers"][0]
    assert task["command"] == ["/overture/bin/overture-wrapper", "run", "--", "/bin/sh", "-ec", "true"]
    assert task["terminationMessagePath"] == "/dev/termination-log"
    plan = json.loads(next(e["value"] for e in task["env"] if e["name"] == "OVERTURE_WRAPPER_SPEC"))
    assert plan["log"] == {"putURL": "PUT ns/ex/ex-b-1/log"}


def test_without_a_store_nothing_changes_but_files_are_refused() -> None:
    pod = job()["spec"]["template"]["spec"]
    assert "initContainers" not in pod
    assert pod["containers"][0]["command"] == ["/bin/sh", "-ec", "true"]
    with pytest.raises(ArtifactError, match="need an artifact store"):
        job(CreateJob(**{**REQUEST.__dict__, "output_files": ("*.csv",)}))


def test_a_container_without_a_command_runs_as_it_is() -> None:
    request = CreateJob(name="ex-c-1", task_run="c", task_id="c", attempt=1, image="img:1", command=())
    pod = job(request, FakeSigner())["spec"]["template"]["spec"]
    assert "initContainers" not in pod
    assert "command" not in pod["containers"][0]
