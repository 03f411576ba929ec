"""The artifact store (any S3 endpoint): task files, outputs too big for a status, archived logs.

The operator holds the store's keys and never carries the bytes: it signs requests that let one
task attempt's pod read and write its own objects (docs/DECISIONS.md, issue 15), and reads only
what templates need (big outputs) and what retention deletes.

Keys, one prefix per execution so that retention deletes it whole and a namespace's pods only ever
get URLs under their own namespace::

    <namespace>/<execution>/<job>/files/<i>        outputFiles of one attempt, the i-th by name (a
                                                    presigned PUT per slot; names are in the listing)
    <namespace>/<execution>/<job>/outputs.json      outputs over the inline limit (presigned PUT)
    <namespace>/<execution>/<job>/files.json        the file listing, when the manifest has no room
    <namespace>/<execution>/<job>/log               the attempt's log (presigned PUT)
    <namespace>/<execution>/<job>/files/0           a sql task's rows.csv (rowsTo: CsvFile), by the operator
    <namespace>/<execution>/inputs/<input id>       FILE inputs of the execution

A file is referred to as ``s3://<bucket>/<key>`` in outputs, templates and status.

Every key the operator signs or reads is checked by ``checked_key``: no empty, ``.`` or ``..``
segment, no backslash, not absolute. A store on a file system (versitygw's posix backend) would
resolve ``<namespace>/../<other>/`` into another namespace's prefix; S3 services keep keys literal.
No key is of a pod's choosing: each output file slot has its own presigned PUT.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

MAX_PRESIGN = timedelta(days=7)  # the longest a SigV4 presigned request may be valid
DEFAULT_MAX_FILE_BYTES = 5 << 30  # S3's limit for one PUT
# Each file a task may store is a presigned PUT slot in its Job (67 bytes of the wrapper's spec).
DEFAULT_MAX_OUTPUT_FILES = 100
INLINE_OUTPUTS_BYTES = 2048  # larger outputs go to outputs.json, status keeps their size
# Outputs are values for templates (files are for data): the operator reads them into memory,
# and a template may put them in a Job (etcd takes 1.5 MiB an object).
DEFAULT_MAX_OUTPUTS_BYTES = 1 << 20
LOG_TAIL_BYTES = 10 << 20  # what `overture logs` and the UI show of an archived log at most


class ArtifactError(ValueError):
    """A task's files cannot be set up (no store, a reference outside the namespace): fails the task."""


class ObjectTooBigError(ValueError):
    """An object over what its reader accepts (a pod can PUT anything its presigned URL allows)."""


@dataclass(frozen=True)
class StoreSettings:
    endpoint: str
    bucket: str
    region: str
    access_key_id: str
    secret_access_key: str
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_outputs_bytes: int = DEFAULT_MAX_OUTPUTS_BYTES
    max_output_files: int = DEFAULT_MAX_OUTPUT_FILES
    wrapper_image: str = "overture-wrapper:dev"
    if_no_match: str = "fail"  # an outputFiles glob that matches nothing: fail or warn
    # Objects of an execution that no longer exists and that nobody wrote for this long are
    # deleted (an execution deleted while no operator ran); the sweep runs this often too.
    orphan_seconds: float = 3600.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> StoreSettings | None:
        """``OVERTURE_S3_{ENDPOINT,BUCKET,REGION,ACCESS_KEY_ID,SECRET_ACCESS_KEY}``; None without an endpoint."""
        if not env.get("OVERTURE_S3_ENDPOINT"):
            return None
        missing = [
            name for name in ("BUCKET", "ACCESS_KEY_ID", "SECRET_ACCESS_KEY") if not env.get(f"OVERTURE_S3_{name}")
        ]
        if missing:
            raise ValueError(f"OVERTURE_S3_ENDPOINT is set but not OVERTURE_S3_{', OVERTURE_S3_'.join(missing)}")
        return cls(
            endpoint=env["OVERTURE_S3_ENDPOINT"].rstrip("/"),
            bucket=env["OVERTURE_S3_BUCKET"],
            region=env.get("OVERTURE_S3_REGION") or "us-east-1",
            access_key_id=env["OVERTURE_S3_ACCESS_KEY_ID"],
            secret_access_key=env["OVERTURE_S3_SECRET_ACCESS_KEY"],
            max_file_bytes=int(env.get("OVERTURE_MAX_FILE_BYTES") or DEFAULT_MAX_FILE_BYTES),
            max_outputs_bytes=int(env.get("OVERTURE_MAX_OUTPUTS_BYTES") or DEFAULT_MAX_OUTPUTS_BYTES),
            max_output_files=int(env.get("OVERTURE_MAX_OUTPUT_FILES") or DEFAULT_MAX_OUTPUT_FILES),
            wrapper_image=env.get("OVERTURE_WRAPPER_IMAGE") or cls.wrapper_image,
            if_no_match=env.get("OVERTURE_OUTPUT_FILES_IF_NO_MATCH") or "fail",
            orphan_seconds=float(env.get("OVERTURE_ARTIFACT_ORPHAN_SECONDS") or 3600),
        )

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def key_of(self, uri: str) -> str | None:
        """The key of an ``s3://`` reference to this store's bucket; None for anything else."""
        prefix = f"s3://{self.bucket}/"
        return uri[len(prefix) :] if uri.startswith(prefix) else None


def is_plain_key(key: str) -> bool:
    """No empty, ``.`` or ``..`` segment (so not absolute either) and no backslash: a store on a
    file system (versitygw's posix backend) could resolve ``<namespace>/../<other>/...`` to
    another namespace's object, and a Windows one could read ``\\`` as a separator."""
    return "\\" not in key and all(part not in ("", ".", "..") for part in key.split("/"))


def checked_key(key: str) -> str:
    """``key`` if it is plain; raises ArtifactError otherwise. Every key is checked before it is
    signed or read, so no key can name an object outside the prefix it was built under."""
    if not is_plain_key(key):
        raise ArtifactError(f"store key {key!r} has an empty, '.' or '..' segment or a backslash; refused")
    return key


def execution_prefix(namespace: str, execution: str) -> str:
    return f"{namespace}/{execution}/"


def attempt_prefix(namespace: str, execution: str, job: str) -> str:
    return f"{namespace}/{execution}/{job}/"


class Signer(Protocol):
    """Presigned requests for one store (``StoreSigner``; tests use a fake with fixed answers)."""

    settings: StoreSettings

    def get_url(self, key: str) -> str: ...

    def put_url(self, key: str) -> str: ...

    def put_slots(self, prefix: str, count: int) -> dict[str, Any]: ...


class ArtifactStore:
    """The store's adapter: signs offline with its keys (AWS SigV4: GET/PUT URLs by obstore, the
    many PUT slots of a task's files here) and reads and deletes the few objects the operator
    itself needs."""

    def __init__(self, settings: StoreSettings, expires: timedelta = MAX_PRESIGN) -> None:
        self.settings = settings
        self.expires = expires
        self._client: Any = None

    def client(self) -> Any:
        if self._client is None:
            from obstore.store import S3Store  # the Rust extension: loaded only with a store

            s = self.settings
            self._client = S3Store(
                s.bucket,
                endpoint=s.endpoint,
                region=s.region,
                access_key_id=s.access_key_id,
                secret_access_key=s.secret_access_key,
                virtual_hosted_style_request=False,
                client_options={"allow_http": s.endpoint.startswith("http://")},
            )
        return self._client

    def get_url(self, key: str) -> str:
        import obstore

        return str(obstore.sign(self.client(), "GET", checked_key(key), self.expires))

    def put_url(self, key: str) -> str:
        import obstore

        return str(obstore.sign(self.client(), "PUT", checked_key(key), self.expires))

    def put_slots(self, prefix: str, count: int) -> dict[str, Any]:
        return put_slots(self.settings, prefix, count, dt.datetime.now(dt.UTC), self.expires)

    def read_log(self, key: str, max_bytes: int = LOG_TAIL_BYTES) -> str:
        """An archived log as text, its last ``max_bytes`` at most, synchronously (the CLI); raises
        FileNotFoundError when there is none."""
        import obstore

        size = int(obstore.head(self.client(), checked_key(key))["size"])
        options = tail_options(size, max_bytes)
        data = bytes(obstore.get(self.client(), key, options=options).bytes())
        return log_text(data, size)

    async def read_log_async(self, key: str, max_bytes: int = LOG_TAIL_BYTES) -> str:
        """``read_log`` for an asyncio caller (the UI)."""
        import obstore

        size = int((await obstore.head_async(self.client(), checked_key(key)))["size"])
        options = tail_options(size, max_bytes)
        result = await obstore.get_async(self.client(), key, options=options)
        return log_text(bytes(await result.bytes_async()), size)

    def write_file(self, key: str, path: str) -> None:
        """Upload a local file, synchronously (the CLI: ``overture run -i data=@local.csv``)."""
        from pathlib import Path

        import obstore

        obstore.put(self.client(), checked_key(key), Path(path))

    async def write_stream(self, key: str, chunks: AsyncIterator[bytes]) -> None:
        """Upload bytes as they come (a ``sql`` task's CSV), in parts: memory holds a part, not the object."""
        import obstore

        await obstore.put_async(self.client(), checked_key(key), chunks)

    async def read_json(self, key: str, max_bytes: int) -> Any:
        """An object as JSON; raises ObjectTooBigError past ``max_bytes`` without reading it."""
        import obstore

        size = int((await obstore.head_async(self.client(), checked_key(key)))["size"])
        if size > max_bytes:
            raise ObjectTooBigError(f"{key} is {size} bytes, over the {max_bytes} this reader accepts")
        result = await obstore.get_async(self.client(), key)
        return json.loads(bytes(await result.bytes_async()))

    async def read_head(self, key: str, limit: int) -> tuple[bytes, int]:
        """At most the first ``limit`` bytes of an object, and its whole size (the UI's previews)."""
        import obstore

        size = int((await obstore.head_async(self.client(), checked_key(key)))["size"])
        if size == 0:  # a zero-length range is an error to S3
            return b"", 0
        head = await obstore.get_range_async(self.client(), key, start=0, end=min(size, limit))
        return bytes(head), size

    async def executions_with_objects(self, namespace: str) -> list[str]:
        """The executions of ``namespace`` that have objects (the prefixes under it)."""
        import obstore

        listing = await obstore.list_with_delimiter_async(self.client(), f"{namespace}/")
        return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in listing["common_prefixes"])

    async def newest_object(self, prefix: str) -> dt.datetime | None:
        """When the newest object under ``prefix`` was written; None when there is none."""
        import obstore

        times = [o["last_modified"] async for batch in obstore.list(self.client(), prefix) for o in batch]
        return max(times, default=None)

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix`` (an execution's); how many there were."""
        import obstore

        keys = [o["path"] async for batch in obstore.list(self.client(), prefix) for o in batch]
        for start in range(0, len(keys), 1000):  # DeleteObjects takes 1,000 keys at most
            await obstore.delete_async(self.client(), keys[start : start + 1000])
        return len(keys)


def tail_options(size: int, max_bytes: int) -> Any:
    """obstore's GetOptions for the last ``max_bytes`` of an object of ``size`` bytes, and the
    byte before them (``log_text`` starts at a whole line)."""
    return {"range": {"offset": size - max_bytes - 1}} if size > max_bytes else {}


def log_text(tail: bytes, size: int) -> str:
    """A log's (last) bytes as text from its first whole line, saying so when the start was left out."""
    if len(tail) >= size:
        return tail.decode("utf-8", "replace")
    rest = tail.partition(b"\n")[2]
    head = f"[overture] the archived log is {size} bytes; its last {len(rest)} follow\n"
    return head + rest.decode("utf-8", "replace")


def put_slots(settings: StoreSettings, prefix: str, count: int, now: dt.datetime, expires: timedelta) -> dict[str, Any]:
    """Presigned PUTs (AWS SigV4, query-signed) for the keys ``<prefix>0`` .. ``<prefix><count-1>``,
    as the wrapper reads them (wrapper/spec.go ``PutSlots``): one URL with ``{slot}`` and
    ``{signature}`` in it, and each slot's signature. Each URL is good for its one key only, so a
    pod cannot choose where its files go. Signed here rather than by obstore: obstore takes the
    time itself, and slots must share it to share their URL. Pure: ``now`` is given."""
    checked_key(prefix + "0")
    day, stamp = now.strftime("%Y%m%d"), now.strftime("%Y%m%dT%H%M%SZ")
    scope = f"{day}/{settings.region}/s3/aws4_request"
    endpoint = urlsplit(settings.endpoint)
    query = "&".join(
        f"{name}={quote(value, safe='-_.~')}"
        for name, value in (
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
            ("X-Amz-Credential", f"{settings.access_key_id}/{scope}"),
            ("X-Amz-Date", stamp),
            ("X-Amz-Expires", str(int(expires.total_seconds()))),
            ("X-Amz-SignedHeaders", "host"),
        )
    )
    path = f"{endpoint.path.rstrip('/')}/{quote(settings.bucket)}/{quote(prefix, safe='/-_.~')}"
    key = ("AWS4" + settings.secret_access_key).encode()
    for part in (day, settings.region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()

    def signature(slot: int) -> str:
        request = f"PUT\n{path}{slot}\n{query}\nhost:{endpoint.netloc}\n\nhost\nUNSIGNED-PAYLOAD"
        to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(request.encode()).hexdigest()}"
        return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()

    return {
        "url": f"{endpoint.scheme}://{endpoint.netloc}{path}{{slot}}?{query}&X-Amz-Signature={{signature}}",
        "signatures": [signature(slot) for slot in range(count)],
    }


# ---------------------------------------------------------------- the wrapper's plan

WORK_DIR = "/overture/work"
OUTPUTS_FILE = "/overture/outputs.json"
WRAPPER_PATH = "/overture/bin/overture-wrapper"
SPEC_ENV = "OVERTURE_WRAPPER_SPEC"


def wrapper_spec(
    signer: Signer,
    namespace: str,
    prefix: str,
    input_files: Mapping[str, str],
    output_files: tuple[str, ...],
    outputs_from: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """What one attempt's wrapper does (wrapper/spec.go): its inputs as presigned GETs (a value
    that is an ``s3://`` reference into this namespace), plain GETs (an http(s) URL) or inline
    text; its files by one presigned PUT slot each, ``<prefix>files/<i>`` (``max_output_files``
    slots); outputs.json, files.json and the log by presigned PUTs; ``outputsFrom`` (output key ->
    file) as it is.

    Raises ArtifactError for a reference outside the namespace: a tenant's task cannot read
    another namespace's artifacts by naming them."""
    settings = signer.settings
    inputs: list[dict[str, Any]] = []
    for path, value in sorted(input_files.items()):
        key = settings.key_of(value.strip())
        if key is None and value.strip().startswith(("http://", "https://")):
            inputs.append({"path": path, "url": value.strip()})  # a FILE input given as a URL: fetched as is
        elif key is None:
            if value.startswith("s3://"):
                raise ArtifactError(f"inputFiles.{path}: {value!r} is not in this store's bucket {settings.bucket!r}")
            inputs.append({"path": path, "text": value})
        elif not is_plain_key(key):
            raise ArtifactError(
                f"inputFiles.{path}: {value!r} has an empty, '.' or '..' segment or a backslash; name the object"
            )
        elif not key.startswith(f"{namespace}/"):
            raise ArtifactError(f"inputFiles.{path}: {value!r} belongs to another namespace than {namespace!r}")
        else:
            inputs.append({"path": path, "url": signer.get_url(key)})
    spec: dict[str, Any] = {
        "workDir": WORK_DIR,
        "inputFiles": inputs,
        "outputs": {
            "file": OUTPUTS_FILE,
            "inlineLimit": INLINE_OUTPUTS_BYTES,
            "maxBytes": settings.max_outputs_bytes,
            "putURL": signer.put_url(prefix + "outputs.json"),
        },
        "log": {"putURL": signer.put_url(prefix + "log")},
        "transfers": {},
    }
    if outputs_from:
        spec["outputs"]["fromFiles"] = dict(outputs_from)
    if output_files:
        spec["outputFiles"] = {
            "globs": list(output_files),
            "ifNoMatch": settings.if_no_match,
            "maxFileBytes": settings.max_file_bytes,
            "slots": signer.put_slots(prefix + "files/", settings.max_output_files),
            "listPutURL": signer.put_url(prefix + "files.json"),
            "uriPrefix": settings.uri(prefix + "files/"),
        }
    return spec
