"""Shared option aliases and output helpers for the command modules.

Results go to stdout (a table or text, or JSON with ``--json``); diagnostics and progress go
to stderr. Options read environment defaults in the Typer declaration, as documented.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from hubsnap.api.session import Session
    from hubsnap.config import Settings

__all__ = [
    "SCHEMA_PREFIX",
    "CaFileOption",
    "ChainOption",
    "JsonOption",
    "PlainHttpOption",
    "PolicyOption",
    "StoreOption",
    "TimeoutOption",
    "TrustedKeysOption",
    "emit",
    "envelope",
    "human_size",
    "info",
    "open_session",
    "print_table",
    "schema_id",
    "settings",
    "warn",
]

#: Every ``--json`` document is an object whose ``schema`` is ``SCHEMA_PREFIX/<command>/v1``
#: (``schemas/<command>-result.schema.json`` describes it); keys are snake_case.
SCHEMA_PREFIX = "hubsnap.dev"

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
TimeoutOption = Annotated[
    str | None,
    typer.Option("--timeout", help="Network timeout, e.g. 30s or 2m.", envvar="HUBSNAP_TIMEOUT"),
]
StoreOption = Annotated[
    Path | None,
    typer.Option("--store", help="Local store (OCI image layout).", envvar="HUBSNAP_STORE"),
]
PlainHttpOption = Annotated[
    bool | None,
    typer.Option(
        "--plain-http/--https",
        help="Talk plain HTTP (default only for localhost and 127.0.0.1), or force HTTPS.",
        show_default=False,
    ),
]
CaFileOption = Annotated[
    Path | None,
    typer.Option("--ca-file", help="CA bundle to trust for the registry's TLS certificate."),
]
# What ``verify`` and ``lfs verify`` trust, declared once.
TrustedKeysOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--key", metavar="PUB", help="Trusted public key (repeatable).", envvar="HUBSNAP_VERIFY_KEY"
    ),
]
PolicyOption = Annotated[
    Path | None,
    typer.Option("--policy", help="Trust policy file.", envvar="HUBSNAP_POLICY"),
]
ChainOption = Annotated[
    bool, typer.Option("--chain", help="Walk provenance parents to a trusted root.")
]


def settings(*, timeout: str | None = None, store: Path | None = None) -> Settings:
    """Settings from the environment, with the command's overrides applied."""
    from hubsnap.config import Settings, parse_duration  # noqa: PLC0415

    base = Settings.from_env()
    changes: dict[str, Any] = {}
    if timeout is not None:
        changes["timeout"] = parse_duration(timeout)
    if store is not None:
        changes["store"] = store
    if not changes:
        return base
    return replace(base, **changes)


def open_session(
    *,
    timeout: str | None,
    store: Path | None = None,
    plain_http: bool | None = None,
    ca_file: Path | None = None,
) -> Session:
    """The command's session, from the environment and its shared options."""
    from hubsnap.api.session import Session, transport_options  # noqa: PLC0415

    config = settings(timeout=timeout, store=store)
    return Session(config, transport_options(config, plain_http=plain_http, ca_file=ca_file))


def schema_id(command: str) -> str:
    """The ``schema`` of ``command``'s ``--json`` document, e.g. ``hubsnap.dev/store-ls/v1``
    (described by ``schemas/store-ls-result.schema.json``, whose ``schema`` property is that
    constant)."""
    return f"{SCHEMA_PREFIX}/{command}/v1"


def envelope(command: str, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` as the ``--json`` document of ``command`` (``"store-ls"``, ``"lfs-commit"``):
    its fields (snake_case) and ``schema``, the id of the JSON Schema that describes them.
    Every command, including ones added later, prints its JSON through this."""
    return {**data, "schema": schema_id(command)}


def emit(
    data: dict[str, Any],
    json_output: bool,
    render: Callable[[dict[str, Any]], str],
    *,
    schema: str | None = None,
) -> None:
    """Print ``data`` as its ``--json`` document (see :func:`envelope`) or as rendered text.

    Every command names its ``schema``; ``None`` is left for commands not yet converted, and a
    test lists any that still pass it.
    """
    if json_output:
        document = envelope(schema, data) if schema is not None else data
        sys.stdout.write(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")
    else:
        text = render(data)
        if text:
            sys.stdout.write(text.rstrip("\n") + "\n")


def human_size(size: int) -> str:
    """``1.5 MB``-style sizes (powers of 1000, as hf and docker print them)."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Render a plain aligned table (no colours: output is often piped)."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return "\n".join(lines)


#: ``-q``: informational lines (:func:`info`) are left out; warnings and errors are not.
QUIET = False


def warn(message: str) -> None:
    """A diagnostic that always goes to stderr (a warning, a failed check, a note)."""
    sys.stderr.write(message.rstrip("\n") + "\n")


def info(message: str) -> None:
    """An informational line on stderr (what was sent, fetched, resolved); ``-q`` omits it."""
    if not QUIET:
        warn(message)
