"""``hubsnap cp SRC DEST``: copy an artifact and its referrers (signatures travel along)."""

from __future__ import annotations

from typing import Annotated

import typer

from hubsnap.cli import app, example
from hubsnap.cli._output import (
    CaFileOption,
    JsonOption,
    PlainHttpOption,
    StoreOption,
    TimeoutOption,
    emit,
    info,
    open_session,
    warn,
)


@app.command(
    "cp",
    epilog=example(
        "hubsnap cp localhost:5000/models/minilm@sha256:… registry.example.com/models/minilm"
    ),
)
def cp_command(
    source: Annotated[
        str, typer.Argument(metavar="SRC", help="HOST[:PORT]/REPO@sha256:…, oci:PATH@… or sha256:…")
    ],
    destination: Annotated[
        str, typer.Argument(metavar="DEST", help="HOST[:PORT]/REPO[:TAG] or oci:PATH[:TAG].")
    ],
    *,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be copied; copy nothing.")
    ] = False,
    plain_http: PlainHttpOption = None,
    ca_file: CaFileOption = None,
    store: StoreOption = None,
    json_output: JsonOption = False,
    timeout: TimeoutOption = None,
) -> None:
    """Copy an artifact with its referrers (signatures, provenance), like oras cp -r and
    cosign copy; prints DEST@sha256:…. The digest stays the same, so verify works at DEST.
    """
    from hubsnap.api.transfer import push  # noqa: PLC0415
    from hubsnap.cli.push import summary  # noqa: PLC0415

    with open_session(
        timeout=timeout, store=store, plain_http=plain_http, ca_file=ca_file
    ) as session:
        result = push(session, source, destination, dry_run=dry_run)
    for message in result.warnings:
        warn(f"warning: {message}")
    info(summary(result))
    emit(result.to_json(), json_output, lambda data: str(data["reference"]), schema="cp")
