"""Settings read from the environment, in one place and only when asked for.

Variables (all optional):

``HUBSNAP_HOME``
    Root of hubsnap's state; default ``~/.cache/hubsnap``. The local store is ``HOME/store``;
    ``HOME/blob-sightings.sqlite`` caches which registry repositories held which blobs (so a
    push can mount instead of upload; safe to delete).
``HUBSNAP_STORE``
    Overrides the local store path (an OCI image layout).
``HUBSNAP_TIMEOUT``
    Default network timeout, e.g. ``30s``, ``2m``; default ``60s``.
``HUBSNAP_DEBUG``
    ``1`` prints tracebacks for errors.
``HF_ENDPOINT``
    Where Hub requests go (default ``https://huggingface.co``): a mirror or relay of the Hub.
    Recorded in ``snapshot.yaml`` only; artifacts name the Hub by ``HUBSNAP_HUB_URL``.
``HUBSNAP_HUB_URL``
    The Hub that artifacts name as their source, ``URL/REPO`` (default
    ``https://huggingface.co``); set it for a private Hub. Whichever ``HF_ENDPOINT`` the bytes
    came through, the same commit gives the same artifact.
``HF_TOKEN`` / ``HUGGING_FACE_HUB_TOKEN``
    Hub token; surrounding whitespace is stripped, as ``huggingface_hub`` does. Without it,
    the token saved by ``hf auth login`` is used.
``HF_HUB_OFFLINE``
    ``1``: nothing reaches the Hub. ``snapshot REPO@REV`` answers from a full snapshot the
    local store holds; any other Hub request is one line, exit 2.
``HF_HUB_DISABLE_PROGRESS_BARS``
    ``1`` hides download progress bars.
``DOCKER_CONFIG``
    Directory holding the docker ``config.json`` used for registry credentials.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from hubsnap import values
from hubsnap.errors import UsageError

__all__ = [
    "DEFAULT_HF_ENDPOINT", "DEFAULT_HUB_URL", "Settings",
    "clean_token", "hub_base_url", "parse_duration",
]  # fmt: skip

DEFAULT_HF_ENDPOINT = "https://huggingface.co"
DEFAULT_HUB_URL = DEFAULT_HF_ENDPOINT
_TRUE = frozenset({"1", "ON", "YES", "TRUE"})  # huggingface_hub's truthy values

#: The longest timeout or interval accepted: a week. Sockets and timers refuse values far
#: beyond it (``time_t`` overflows), and no network wait is meant to be longer.
MAX_DURATION_SECONDS = 7 * 86400.0


def parse_duration(text: str) -> float:
    """Parse ``30s``, ``1.5m``, ``500ms``, ``2h``, ``1d`` or a bare number of seconds.

    :class:`UsageError` (exit 2) for anything else, zero, or more than a week.
    """
    try:
        return values.parse_duration(text, maximum=MAX_DURATION_SECONDS)
    except values.InvalidValue as e:
        raise UsageError(str(e), hint="use e.g. 30s, 2m or 500ms") from e


def hub_base_url(value: str, name: str) -> str:
    """``value`` as a Hub base URL (``http(s)://HOST[:PORT][/PATH]``, no trailing slash).

    Raises :class:`UsageError` naming the variable ``name`` when it is not one.
    """
    text = value.strip()
    try:
        parts = urlsplit(text)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        parts, port_ok = None, False
    if (
        parts is None
        or not port_ok
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or parts.username is not None
        or any(c.isspace() or not c.isprintable() for c in text)
    ):
        raise UsageError(f"{name} is not a valid Hub URL", hint="use e.g. https://huggingface.co")
    return text.rstrip("/")


def clean_token(value: str | None, name: str) -> str | None:
    """The token with surrounding whitespace stripped, ``None`` if empty. A token with
    whitespace or control characters inside cannot be sent in a header: refused, unprinted."""
    if value is None:
        return None
    token = value.strip()
    if not token:
        return None
    if any(c.isspace() or not c.isprintable() or not c.isascii() for c in token):
        raise UsageError(
            f"{name} contains whitespace, control or non-ASCII characters",
            hint="set it to the token alone",
        )
    return token


@dataclass(frozen=True)
class Settings:
    """Resolved configuration. ``hf_token`` is ``None`` when no token is set in the
    environment (the Hub client then looks for the token ``hf auth login`` saved).

    ``hf_endpoint`` is where Hub requests go; ``hub_url`` is the Hub that artifacts name.
    ``hf_endpoint`` and ``hf_token`` are checked only by the commands that talk to the Hub
    (:meth:`hubsnap.hub.HubClient.from_settings`), so a malformed one cannot stop the others.
    """

    home: Path
    store: Path
    hf_endpoint: str
    hf_token: str | None
    timeout: float
    docker_config: Path
    debug: bool
    hub_url: str = DEFAULT_HUB_URL
    hf_offline: bool = False
    progress_bars: bool = True

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ) if environ is None else environ
        home = Path(env.get("HUBSNAP_HOME") or Path.home() / ".cache" / "hubsnap").expanduser()
        store = (
            Path(env["HUBSNAP_STORE"]).expanduser() if env.get("HUBSNAP_STORE") else home / "store"
        )
        docker_config = Path(env.get("DOCKER_CONFIG") or Path.home() / ".docker").expanduser()
        return cls(
            home=home,
            store=store,
            hf_endpoint=(env.get("HF_ENDPOINT") or DEFAULT_HF_ENDPOINT).strip().rstrip("/"),
            hf_token=env.get("HF_TOKEN") or env.get("HUGGING_FACE_HUB_TOKEN") or None,
            timeout=parse_duration(env.get("HUBSNAP_TIMEOUT", "60s")),
            docker_config=docker_config,
            debug=env.get("HUBSNAP_DEBUG", "") not in ("", "0"),
            hub_url=hub_base_url(env.get("HUBSNAP_HUB_URL") or DEFAULT_HUB_URL, "HUBSNAP_HUB_URL"),
            hf_offline=_true(env, "HF_HUB_OFFLINE") or _true(env, "TRANSFORMERS_OFFLINE"),
            progress_bars=not _true(env, "HF_HUB_DISABLE_PROGRESS_BARS"),
        )


def _true(env: dict[str, str], name: str) -> bool:
    return env.get(name, "").strip().upper() in _TRUE
