"""The artifact store the e2e tests run against: the local cluster's S3 server (versitygw, started
by hack/cluster/up.sh, described by OVERTURE_S3_* lines in cluster.env) or any S3 endpoint given by
the same variables in the environment. Presigned requests are the operator's own (kube/artifacts.py):
GET/PUT URLs, each for one key (a task's files too: one PUT slot each).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

import obstore
from obstore.store import S3Store

from overture.kube.artifacts import ArtifactStore, StoreSettings

VARIABLES = ("ENDPOINT", "BUCKET", "REGION", "ACCESS_KEY_ID", "SECRET_ACCESS_KEY")


@dataclass(frozen=True)
class StoreAccess:
    endpoint: str
    bucket: str
    region: str
    access_key_id: str
    secret_access_key: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> StoreAccess | None:
        values = [env.get(f"OVERTURE_S3_{name}") for name in VARIABLES]
        if not all(values):
            return None
        return cls(*[str(v) for v in values])

    def settings(self) -> StoreSettings:
        return StoreSettings(self.endpoint, self.bucket, self.region, self.access_key_id, self.secret_access_key)

    def client(self) -> S3Store:
        return ArtifactStore(self.settings()).client()

    def get_url(self, key: str, expires: timedelta = timedelta(hours=1)) -> str:
        return ArtifactStore(self.settings(), expires).get_url(key)

    def put_url(self, key: str, expires: timedelta = timedelta(hours=1)) -> str:
        return ArtifactStore(self.settings(), expires).put_url(key)

    def key_of(self, uri: str) -> str | None:
        return self.settings().key_of(uri)

    def keys(self, prefix: str) -> dict[str, int]:
        """key -> size of every object under prefix."""
        return {o["path"]: o["size"] for batch in obstore.list(self.client(), prefix) for o in batch}

    def read(self, key: str) -> bytes:
        return bytes(obstore.get(self.client(), key).bytes())

    def write(self, key: str, data: bytes) -> None:
        obstore.put(self.client(), key, data)
