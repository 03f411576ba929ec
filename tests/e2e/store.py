"""The artifact store the e2e tests run against: the local cluster's S3 server (versitygw, started
by hack/cluster/up.sh, described by OVERTURE_S3_* lines in cluster.env) or any S3 endpoint given by
the same variables in the environment. Presigned requests are made here the way the operator makes
them: GET/PUT URLs for known keys, a POST form whose policy only admits keys under one prefix.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import obstore
from obstore.store import S3Store

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

    def client(self) -> S3Store:
        return S3Store(
            self.bucket,
            endpoint=self.endpoint,
            region=self.region,
            access_key_id=self.access_key_id,
            secret_access_key=self.secret_access_key,
            virtual_hosted_style_request=False,
            client_options={"allow_http": self.endpoint.startswith("http://")},
        )

    def get_url(self, key: str, expires: timedelta = timedelta(hours=1)) -> str:
        return str(obstore.sign(self.client(), "GET", key, expires))

    def put_url(self, key: str, expires: timedelta = timedelta(hours=1)) -> str:
        return str(obstore.sign(self.client(), "PUT", key, expires))

    def post_form(self, prefix: str, max_bytes: int, expires: timedelta = timedelta(hours=1)) -> dict[str, Any]:
        """A presigned POST (AWS SigV4 browser-form upload) for any key under ``prefix``."""
        now = dt.datetime.now(dt.UTC)
        day, stamp = now.strftime("%Y%m%d"), now.strftime("%Y%m%dT%H%M%SZ")
        credential = f"{self.access_key_id}/{day}/{self.region}/s3/aws4_request"
        policy = {
            "expiration": (now + expires).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "conditions": [
                {"bucket": self.bucket},
                ["starts-with", "$key", prefix],
                ["content-length-range", 0, max_bytes],
                {"x-amz-algorithm": "AWS4-HMAC-SHA256"},
                {"x-amz-credential": credential},
                {"x-amz-date": stamp},
            ],
        }
        encoded = base64.b64encode(json.dumps(policy).encode()).decode()
        key = ("AWS4" + self.secret_access_key).encode()
        for part in (day, self.region, "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        return {
            "url": f"{self.endpoint}/{self.bucket}",
            "keyPrefix": prefix,
            "fields": {
                "policy": encoded,
                "x-amz-algorithm": "AWS4-HMAC-SHA256",
                "x-amz-credential": credential,
                "x-amz-date": stamp,
                "x-amz-signature": hmac.new(key, encoded.encode(), hashlib.sha256).hexdigest(),
            },
        }

    def keys(self, prefix: str) -> dict[str, int]:
        """key -> size of every object under prefix."""
        return {o["path"]: o["size"] for batch in obstore.list(self.client(), prefix) for o in batch}

    def read(self, key: str) -> bytes:
        return bytes(obstore.get(self.client(), key).bytes())

    def write(self, key: str, data: bytes) -> None:
        obstore.put(self.client(), key, data)
