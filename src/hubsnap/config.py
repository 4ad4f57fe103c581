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
``HF_ENDPOINT`` / ``HF_TOKEN``
    Hub address (default ``https://huggingface.co``) and token.
``DOCKER_CONFIG``
    Directory holding the docker ``config.json`` used for registry credentials.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hubsnap import values
from hubsnap.errors import UsageError

__all__ = ["DEFAULT_HF_ENDPOINT", "Settings", "parse_duration"]

DEFAULT_HF_ENDPOINT = "https://huggingface.co"

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


@dataclass(frozen=True)
class Settings:
    """Resolved configuration. ``hf_token`` is ``None`` when no token is configured."""

    home: Path
    store: Path
    hf_endpoint: str
    hf_token: str | None
    timeout: float
    docker_config: Path
    debug: bool

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
            hf_endpoint=(env.get("HF_ENDPOINT") or DEFAULT_HF_ENDPOINT).rstrip("/"),
            hf_token=env.get("HF_TOKEN") or None,
            timeout=parse_duration(env.get("HUBSNAP_TIMEOUT", "60s")),
            docker_config=docker_config,
            debug=env.get("HUBSNAP_DEBUG", "") not in ("", "0"),
        )
