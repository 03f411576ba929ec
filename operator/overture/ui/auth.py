"""Who is calling the UI's API, and with which credentials the UI acts for them.

Three modes, chosen when the server starts (``overture ui --auth ...``):

- ``token`` (the chart's default): the request carries ``Authorization: Bearer <token>``, a token
  the API server accepts (a ServiceAccount token, an OIDC id token, a static token). The UI does
  not judge it: it asks the API server who the token belongs to (a SelfSubjectReview made *with*
  that token) and then makes every request with it, so Kubernetes RBAC decides what the person
  may see and do. An unknown token (``Bearer nothing``) gets 401 from the API server and from us.
- ``kubeconfig`` (``overture ui`` on a workstation): the UI acts with the user's kubeconfig, as
  kubectl would. The browser must still present the session token printed at startup, so another
  local user or a web page cannot drive the cluster through the port.
- ``impersonate`` (opt-in, behind an authenticating proxy only): the UI's own credentials with
  ``Impersonate-User`` set from the proxy's ``X-Remote-User`` header. Its ServiceAccount then
  needs the ``impersonate`` verb, which is why it is never the default.

An accepted identity is cached for ``REVIEW_SECONDS`` per token (by its SHA-256): a revoked
token stops working within that time, and a page that makes ten requests costs one review.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import re
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from kubernetes_asyncio import client

from overture.ui.kubeapi import KubeError, UserApi

REVIEW_SECONDS = 30.0
MAX_CACHED_CALLERS = 256
# RFC 6750's b64token: what a bearer token may contain. Anything else is refused without asking.
TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


@dataclass
class Caller:
    """An authenticated person and the API client that acts as them."""

    user: str
    groups: list[str]
    api: UserApi
    checked_at: float = field(default_factory=time.monotonic)


class Authenticator(Protocol):
    mode: str

    async def authenticate(self, headers: Mapping[str, str]) -> Caller | None:
        """The caller, or None: the request gets 401."""

    async def close(self) -> None: ...


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of ``Authorization: Bearer <token>``; None if absent or not a well-formed token."""
    scheme, _, token = (headers.get("authorization") or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 16384 or not TOKEN.fullmatch(token):
        return None
    return token


def with_token(base: client.Configuration, token: str) -> client.Configuration:
    """``base`` (server address and CA only) with ``token`` as the only credential."""
    conf = copy.copy(base)
    conf.api_key = {"BearerToken": f"Bearer {token}"}
    conf.api_key_prefix = {}
    conf.cert_file = conf.key_file = None
    conf.username = conf.password = None
    return conf


def address_only(conf: client.Configuration) -> client.Configuration:
    """The server address and CA of a loaded configuration, without its credentials."""
    base = client.Configuration(host=conf.host)
    base.ssl_ca_cert = conf.ssl_ca_cert
    base.verify_ssl = conf.verify_ssl
    base.tls_server_name = getattr(conf, "tls_server_name", None)
    return base


class _Callers:
    """A small LRU of callers by key; evicted clients are closed."""

    def __init__(self) -> None:
        self._items: OrderedDict[str, Caller] = OrderedDict()

    def get(self, key: str) -> Caller | None:
        caller = self._items.get(key)
        if caller is None:
            return None
        if time.monotonic() - caller.checked_at > REVIEW_SECONDS:
            self._drop(key)
            return None
        self._items.move_to_end(key)
        return caller

    def put(self, key: str, caller: Caller) -> None:
        self._items[key] = caller
        while len(self._items) > MAX_CACHED_CALLERS:
            self._drop(next(iter(self._items)))

    def _drop(self, key: str) -> None:
        caller = self._items.pop(key)
        # A request may still be using it: close it a little later.
        asyncio.get_running_loop().call_later(REQUEST_GRACE, lambda: asyncio.ensure_future(caller.api.close()))

    async def close(self) -> None:
        for caller in self._items.values():
            await caller.api.close()
        self._items.clear()


REQUEST_GRACE = 120.0


class TokenAuth:
    mode = "token"

    def __init__(self, base: client.Configuration) -> None:
        self.base = address_only(base)
        self.callers = _Callers()

    async def authenticate(self, headers: Mapping[str, str]) -> Caller | None:
        token = bearer_token(headers)
        if token is None:
            return None
        key = hashlib.sha256(token.encode()).hexdigest()
        caller = self.callers.get(key)
        if caller is not None:
            return caller
        api = UserApi(client.ApiClient(with_token(self.base, token)), {})
        identity = await api.identity()
        if identity is None:
            await api.close()
            return None
        caller = Caller(identity[0], identity[1], api)
        self.callers.put(key, caller)
        return caller

    async def close(self) -> None:
        await self.callers.close()


class KubeconfigAuth:
    """``overture ui`` on a workstation: the kubeconfig's credentials, behind a session token."""

    mode = "kubeconfig"

    def __init__(self, api: client.ApiClient, session_token: str) -> None:
        self.api = UserApi(api, {})
        self.session_token = session_token
        self.identity: tuple[str, list[str]] | None = None

    async def authenticate(self, headers: Mapping[str, str]) -> Caller | None:
        token = bearer_token(headers)
        if token is None or not hmac.compare_digest(token.encode(), self.session_token.encode()):
            return None
        if self.identity is None:
            try:
                self.identity = await self.api.identity() or ("(refused by the API server)", [])
            except KubeError:
                self.identity = ("(kubeconfig user)", [])
        return Caller(self.identity[0], self.identity[1], self.api)

    async def close(self) -> None:
        await self.api.close()


class ImpersonateAuth:
    """Opt-in: trust an authenticating proxy's ``X-Remote-User``/``X-Remote-Group`` headers."""

    mode = "impersonate"

    def __init__(self, api: client.ApiClient, user_header: str = "x-remote-user", group_header: str = "x-remote-group"):
        self.api = api
        self.user_header = user_header
        self.group_header = group_header
        self.callers = _Callers()

    async def authenticate(self, headers: Mapping[str, str]) -> Caller | None:
        user = (headers.get(self.user_header) or "").strip()
        if not user:
            return None
        groups = [g.strip() for g in (headers.get(self.group_header) or "").split(",") if g.strip()]
        key = hashlib.sha256(f"{user}\n{','.join(groups)}".encode()).hexdigest()
        caller = self.callers.get(key)
        if caller is None:
            # The user only: Impersonate-Group repeats once per group, and the generated client sends
            # one value per header (docs/DECISIONS.md: bind roles to users in this mode).
            caller = Caller(user, groups, _SharedApi(self.api, {"Impersonate-User": user}))
            self.callers.put(key, caller)
        return caller

    async def close(self) -> None:
        await self.api.close()


class _SharedApi(UserApi):
    """A UserApi over the server's own client: closing one caller must not close it."""

    async def close(self) -> None:
        return None
