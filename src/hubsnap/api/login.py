"""The ``login`` verb: check registry credentials, then keep them where docker keeps them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hubsnap.api.session import Session
from hubsnap.errors import UsageError
from hubsnap.oci.auth import Credentials, remove_credentials, store_credentials
from hubsnap.oci.client import RegistryClient
from hubsnap.oci.reference import RegistryReference

__all__ = ["LoginResult", "LogoutResult", "login", "logout"]

_REGISTRY = re.compile(r"^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9a-fA-F:]+\](?::\d{1,5})?$")


@dataclass(frozen=True)
class LoginResult:
    """A successful login: where the credentials were stored (file path or helper name)."""

    registry: str
    stored_in: str

    def to_json(self) -> dict[str, Any]:
        return {"registry": self.registry, "stored_in": self.stored_in}


@dataclass(frozen=True)
class LogoutResult:
    """Where ``registry``'s credentials were removed from (``None``: there were none)."""

    registry: str
    removed_from: str | None

    def to_json(self) -> dict[str, Any]:
        return {"registry": self.registry, "removed_from": self.removed_from}


def _host(registry: str) -> str:
    host = registry.removeprefix("https://").removeprefix("http://").rstrip("/")
    if not _REGISTRY.match(host):
        raise UsageError(f"invalid registry {registry!r}", hint="use HOST[:PORT]")
    return host


def logout(session: Session, registry: str) -> LogoutResult:
    """Remove ``registry``'s credentials from the docker config or its credential helper."""
    host = _host(registry)
    return LogoutResult(host, remove_credentials(session.settings.docker_config, host))


def login(session: Session, registry: str, username: str, password: str) -> LoginResult:
    """Check the credentials against the registry, then store them in the docker config.

    The check uses a client of its own with exactly these credentials, never the session's
    (which carries whatever the docker config already holds).
    """
    host = _host(registry)
    if not username or not password:
        raise UsageError("login needs a user name and a non-empty password")
    credentials = Credentials(username, password)
    options = session.transport
    plain = (
        options.plain_http
        if options.plain_http is not None
        else RegistryReference(host, "x").is_loopback
    )
    client = RegistryClient(host, credentials=credentials, options=options, plain_http=plain)
    try:
        client.ping()
    finally:
        client.close()
    stored = store_credentials(session.settings.docker_config, host, credentials)
    return LoginResult(host, stored)
