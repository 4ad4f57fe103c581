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
from typing import Annotated, Any, TypeVar

import typer

from hubsnap.api.session import Session, transport_options
from hubsnap.config import Settings, parse_duration

__all__ = [
    "CaFileOption",
    "JsonOption",
    "PlainHttpOption",
    "StoreOption",
    "TimeoutOption",
    "emit",
    "open_session",
    "print_table",
    "settings",
    "warn",
]

T = TypeVar("T")

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


def settings(*, timeout: str | None = None, store: Path | None = None) -> Settings:
    """Settings from the environment, with the command's overrides applied."""
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
    config = settings(timeout=timeout, store=store)
    return Session(config, transport_options(config, plain_http=plain_http, ca_file=ca_file))


def emit(data: T, json_output: bool, render: Callable[[T], str]) -> None:
    """Print ``data`` as JSON or as rendered text to stdout."""
    if json_output:
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    else:
        text = render(data)
        if text:
            sys.stdout.write(text.rstrip("\n") + "\n")


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


def warn(message: str) -> None:
    sys.stderr.write(message.rstrip("\n") + "\n")
