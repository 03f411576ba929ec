"""The artifact store's pure parts (kube/artifacts.py): settings, references, the checked keys,
the file slots' signatures, the wrapper's plan, and Jobs built with the wrapper (kube/jobs.py
``build_job`` with a signer)."""

from __future__ import annotations

import datetime as dt
import json
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from overture.engine import CreateJob
from overture.kube.artifacts import (
    ArtifactError,
    ArtifactStore,
    StoreSettings,
    attempt_prefix,
    checked_key,
    log_text,
    put_slots,
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

    def put_slots(self, prefix: str, count: int) -> dict[str, Any]:
        return {"url": f"PUT {prefix}{{slot}} {{signature}}", "signatures": [f"s{i}" for i in range(count)]}


def test_settings_from_the_environment() -> None:
    assert StoreSettings.from_env({}) is None
    s = StoreSettings.from_env(ENV)
    assert s is not None
    assert s.endpoint == "http://s3:9000"
    assert s.region == "us-east-1"
    assert s.if_no_match == "fail"
    assert s.max_outputs_bytes == 1 << 20
    assert s.max_output_files == 100
    limited = StoreSettings.from_env({**ENV, "OVERTURE_MAX_OUTPUTS_BYTES": "4096", "OVERTURE_MAX_OUTPUT_FILES": "7"})
    assert limited is not None
    assert limited.max_outputs_bytes == 4096
    assert limited.max_output_files == 7
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


@pytest.mark.parametrize("key", ["ns/../other/x", "ns/./x", "ns//x", "/ns/x", "ns/x/", "ns\\..\\other", "..", ""])
def test_a_key_that_could_climb_or_mean_another_is_refused(key: str) -> None:
    with pytest.raises(ArtifactError, match="refused"):
        checked_key(key)
    with pytest.raises(ArtifactError):
        ArtifactStore(SETTINGS).put_url(key)


def test_a_plain_key_is_kept() -> None:
    assert checked_key("ns/ex/ex-a-1/files/0") == "ns/ex/ex-a-1/files/0"
    assert checked_key("ns/ex/inputs/data..csv") == "ns/ex/inputs/data..csv"  # '..' inside a name is a name


def test_each_file_slot_is_signed_as_obstore_signs_a_put_for_its_key() -> None:
    """put_slots signs its own URLs (one time for all slots); obstore's presigned PUT for the same
    key at the same second is the reference, so the two must agree to the signature."""
    expires = timedelta(hours=2)
    reference = ArtifactStore(SETTINGS, expires).put_url("ns/ex/j/files/1")
    stamp = parse_qs(urlsplit(reference).query)["X-Amz-Date"][0]
    now = dt.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    slots = put_slots(SETTINGS, "ns/ex/j/files/", 3, now, expires)
    assert slots == put_slots(SETTINGS, "ns/ex/j/files/", 3, now, expires)  # pure
    assert len(set(slots["signatures"])) == 3
    url = slots["url"].replace("{slot}", "1").replace("{signature}", slots["signatures"][1])
    assert urlsplit(url).path == urlsplit(reference).path == "/overture/ns/ex/j/files/1"
    assert parse_qs(urlsplit(url).query) == parse_qs(urlsplit(reference).query)


def test_slots_under_a_prefix_that_could_climb_are_refused() -> None:
    with pytest.raises(ArtifactError):
        put_slots(SETTINGS, "ns/../other/", 1, dt.datetime(2026, 1, 1, tzinfo=dt.UTC), timedelta(hours=1))


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
    assert files["slots"]["url"] == "PUT ns/ex/ex-b-1/files/{slot} {signature}"
    assert len(files["slots"]["signatures"]) == 100  # OVERTURE_MAX_OUTPUT_FILES
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
