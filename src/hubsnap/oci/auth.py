"""Registry credentials: the docker config, credential helpers, and auth challenges.

Credentials come from where docker and oras keep them: ``$DOCKER_CONFIG/config.json`` (default
``~/.docker``), whose ``credHelpers`` / ``credsStore`` name ``docker-credential-*`` programs
and whose ``auths`` hold base64 ``user:password``. ``hubsnap login`` writes to the same
places (atomically, mode 0600). This module also parses ``WWW-Authenticate`` challenges and
token answers; the HTTP exchange itself belongs to :mod:`hubsnap.oci.registry`. Secrets live
only in :class:`Credentials` and :class:`Token`, whose ``repr`` hides them; no error raised
here quotes a secret or a helper's output.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubsnap.canonical import loads_object
from hubsnap.errors import AuthError, NotFoundError, UsageError
from hubsnap.fsutil import atomic_write_bytes
from hubsnap.localfile import read_regular_file

__all__ = [
    "IDENTITY_TOKEN_USER",
    "Challenge",
    "Credentials",
    "Token",
    "basic_authorization",
    "load_credentials",
    "parse_token_response",
    "remove_credentials",
    "repository_scope",
    "store_credentials",
]

#: docker's convention: this user name means the password is an OAuth2 refresh token.
IDENTITY_TOKEN_USER = "<token>"  # noqa: S105 - a marker, not a secret
_DOCKER_HUB_KEY = "https://index.docker.io/v1/"
_CHALLENGE_PARAM = re.compile(r'([A-Za-z][A-Za-z0-9_-]*)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')
_HELPER_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
#: docker's own config files are a few KiB; a bigger one is refused unparsed.
_MAX_CONFIG_BYTES = 1024 * 1024
# What an Authorization header can carry: printable ASCII, no spaces (RFC 7235 token68 and
# the opaque tokens registries use).
_TOKEN = re.compile(r"^[\x21-\x7e]{1,16384}$", re.ASCII)
#: How long a credential helper may take to answer.
HELPER_TIMEOUT = 30.0


@dataclass(frozen=True)
class Credentials:
    """A user name and a password (or identity token when the user is ``<token>``)."""

    username: str
    password: str = field(repr=False)

    @property
    def is_identity_token(self) -> bool:
        return self.username == IDENTITY_TOKEN_USER


@dataclass(frozen=True)
class Token:
    """A bearer token from a token service."""

    value: str = field(repr=False)


@dataclass(frozen=True)
class Challenge:
    """A parsed ``WWW-Authenticate`` header: ``scheme`` is lower-case ``basic`` or ``bearer``."""

    scheme: str
    params: Mapping[str, str]

    @classmethod
    def parse(cls, header: str | None) -> Challenge | None:
        if not header:
            return None
        scheme, _, rest = header.strip().partition(" ")
        params = {
            m.group(1).lower(): (
                m.group(2).replace('\\"', '"') if m.group(2) is not None else m.group(3)
            )
            for m in _CHALLENGE_PARAM.finditer(rest)
        }
        return cls(scheme.lower(), params)

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")


def repository_scope(repository: str, actions: str) -> str:
    """The token scope for ``actions`` (``pull`` or ``pull,push``) on ``repository``."""
    return f"repository:{repository}:{actions}"


def basic_authorization(credentials: Credentials) -> str:
    raw = f"{credentials.username}:{credentials.password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def parse_token_response(data: bytes) -> Token:
    """The token from a token service's JSON answer (``token`` or ``access_token``)."""
    try:
        body = loads_object(data, "token response")
    except (ValueError, RecursionError) as e:
        raise AuthError("the registry's token service sent an unreadable answer") from e
    value = body.get("token") or body.get("access_token")
    if not isinstance(value, str) or not value:
        raise AuthError("the registry's token service sent no token")
    if not _TOKEN.match(value):
        raise AuthError("the registry's token service sent a token that is not printable ASCII")
    return Token(value)


# -- the docker config ---------------------------------------------------------------------


def _config_file(config_dir: Path) -> Path:
    return config_dir / "config.json"


def _read_config(config_dir: Path) -> dict[str, Any]:
    path = _config_file(config_dir)
    try:
        data = read_regular_file(
            path, limit=_MAX_CONFIG_BYTES, what="docker config", not_found=NotFoundError
        )
    except NotFoundError:
        return {}
    try:
        return loads_object(data, str(path), max_bytes=_MAX_CONFIG_BYTES)
    except ValueError as e:
        raise UsageError(str(e), hint="fix or remove the file") from e


def _keys_for(registry: str) -> list[str]:
    """The spellings under which docker-compatible tools file a registry's credentials."""
    keys = [registry, f"https://{registry}", f"http://{registry}", f"https://{registry}/v1/"]
    if registry in ("docker.io", "registry-1.docker.io", "index.docker.io"):
        keys.insert(0, _DOCKER_HUB_KEY)
    return keys


def _helper_for(config: Mapping[str, Any], registry: str) -> str | None:
    helpers = config.get("credHelpers")
    if isinstance(helpers, dict):
        for key in _keys_for(registry):
            name = helpers.get(key)
            if isinstance(name, str) and name:
                return name
    store = config.get("credsStore")
    return store if isinstance(store, str) and store else None


def _run_helper(
    name: str, action: str, payload: str, timeout: float = HELPER_TIMEOUT
) -> subprocess.CompletedProcess[bytes]:
    if not _HELPER_NAME.match(name):
        raise UsageError(f"invalid credential helper name {name!r} in the docker config")
    program = f"docker-credential-{name}"
    try:
        return subprocess.run(
            [program, action],
            input=payload.encode(),
            capture_output=True,
            check=False,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as e:
        raise AuthError(
            f"credential helper {program} did not answer within {timeout:g}s",
            hint="check the helper (it may be waiting for a prompt)",
        ) from e
    except FileNotFoundError as e:
        raise AuthError(
            f"credential helper {program} is not installed",
            hint="install it or remove credsStore/credHelpers from the docker config",
        ) from e


def _helper_get(name: str, registry: str, timeout: float) -> Credentials | None:
    for key in _keys_for(registry):
        result = _run_helper(name, "get", key, timeout)
        if result.returncode != 0:
            # The protocol's answer for an unknown server; anything else is a helper failure,
            # reported without its output (which may contain secrets).
            if b"credentials not found" in result.stdout.lower() + result.stderr.lower():
                continue
            raise AuthError(f"credential helper docker-credential-{name} failed for {registry}")
        try:
            body = loads_object(result.stdout, "credential helper answer")
        except (ValueError, RecursionError) as e:
            raise AuthError(
                f"credential helper docker-credential-{name} sent an unreadable answer"
            ) from e
        user, secret = body.get("Username"), body.get("Secret")
        if isinstance(user, str) and isinstance(secret, str) and secret:
            return Credentials(user, secret)
    return None


def _decode_auth(value: str, registry: str) -> Credentials:
    try:
        # b64decode refuses non-ASCII text with a plain ValueError (binascii.Error is one too).
        user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (ValueError, binascii.Error, UnicodeDecodeError) as e:
        raise UsageError(f"the docker config's auth entry for {registry} is not base64") from e
    if not sep:
        raise UsageError(f"the docker config's auth entry for {registry} has no ':'")
    return Credentials(user, password)


def load_credentials(
    config_dir: Path, registry: str, *, timeout: float = HELPER_TIMEOUT
) -> Credentials | None:
    """Credentials for ``registry`` (``host[:port]``), or ``None`` when none are configured.

    A credential helper gets ``timeout`` seconds to answer.
    """
    config = _read_config(config_dir)
    helper = _helper_for(config, registry)
    if helper is not None:
        found = _helper_get(helper, registry, timeout)
        if found is not None:
            return found
    auths = config.get("auths")
    if not isinstance(auths, dict):
        return None
    for key in _keys_for(registry):
        entry = auths.get(key)
        if not isinstance(entry, dict):
            continue
        token = entry.get("identitytoken")
        if isinstance(token, str) and token:
            return Credentials(IDENTITY_TOKEN_USER, token)
        auth = entry.get("auth")
        if isinstance(auth, str) and auth:
            return _decode_auth(auth, registry)
        user, password = entry.get("username"), entry.get("password")
        if isinstance(user, str) and isinstance(password, str):
            return Credentials(user, password)
    return None


def remove_credentials(config_dir: Path, registry: str) -> str | None:
    """Forget ``registry``'s credentials where :func:`store_credentials` (or docker) saved
    them: the credential helper the config names for it, and every ``auths`` spelling of it
    in ``config.json``. Returns where they were removed from; ``None`` when nothing was."""
    config = _read_config(config_dir)
    removed: str | None = None
    helper = _helper_for(config, registry)
    if helper is not None:
        erased = _run_helper(helper, "erase", registry)
        if erased.returncode == 0:
            removed = f"docker-credential-{helper}"
        elif b"not found" not in erased.stdout.lower() + erased.stderr.lower():
            raise AuthError(f"credential helper docker-credential-{helper} could not erase")
    auths = config.get("auths")
    if isinstance(auths, dict) and any(key in auths for key in _keys_for(registry)):
        for key in _keys_for(registry):
            auths.pop(key, None)
        path = _config_file(config_dir)
        atomic_write_bytes(path, json.dumps(config, indent="\t").encode() + b"\n", mode=0o600)
        removed = removed or str(path)
    return removed


def store_credentials(config_dir: Path, registry: str, credentials: Credentials) -> str:
    """Save credentials where docker would; returns where (``config.json`` or the helper)."""
    config = _read_config(config_dir)
    helper = _helper_for(config, registry)
    if helper is not None:
        secret = credentials.password
        payload = json.dumps(
            {"ServerURL": registry, "Username": credentials.username, "Secret": secret}
        )
        if _run_helper(helper, "store", payload).returncode != 0:
            raise AuthError(f"credential helper docker-credential-{helper} could not store")
        return f"docker-credential-{helper}"
    auths = config.get("auths")
    if not isinstance(auths, dict):
        auths = {}
    for key in _keys_for(registry):
        if key != registry:
            auths.pop(key, None)  # one entry per registry, so a stale spelling cannot win
    auths[registry] = {"auth": basic_authorization(credentials).removeprefix("Basic ")}
    config["auths"] = auths
    config_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = _config_file(config_dir)
    atomic_write_bytes(path, json.dumps(config, indent="\t").encode() + b"\n", mode=0o600)
    return str(path)
