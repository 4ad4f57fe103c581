"""``hubsnap push SOURCE DEST``: copy an artifact (and its referrers) into a registry."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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

if TYPE_CHECKING:
    from hubsnap.api.transfer import PushResult


def summary(result: PushResult) -> str:
    present = result.blobs_total - result.blobs_sent - result.blobs_mounted
    verb = "would send" if result.dry_run else "sent"
    text = (
        f"{verb} {result.blobs_sent} of {result.blobs_total} blobs ({result.bytes_sent} bytes)"
        f", {result.blobs_mounted} mounted, {present} already present"
    )
    if result.referrers:
        text += f", {len(result.referrers)} referrers"
    return text


@app.command(
    "push",
    epilog=example("hubsnap push snapshot.yaml registry.example.com/models/minilm --sign key.pem"),
)
def push_command(
    source: Annotated[
        str, typer.Argument(help="snapshot.yaml, oci:PATH[:TAG|@DIGEST] or a registry ref.")
    ],
    destination: Annotated[
        str, typer.Argument(metavar="DEST", help="HOST[:PORT]/REPO[:TAG] or oci:PATH[:TAG].")
    ],
    *,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be sent; send nothing.")
    ] = False,
    plain_http: PlainHttpOption = None,
    ca_file: CaFileOption = None,
    store: StoreOption = None,
    json_output: JsonOption = False,
    timeout: TimeoutOption = None,
    sign_key: Annotated[
        Path | None,
        typer.Option("--sign", metavar="KEY", help="Then sign DEST@sha256:… with this key."),
    ] = None,
) -> None:
    """Push an artifact by digest; prints DEST@sha256:…."""
    from hubsnap.api.transfer import push  # noqa: PLC0415
    from hubsnap.cli.sign import render_sign_result  # noqa: PLC0415

    with open_session(
        timeout=timeout, store=store, plain_http=plain_http, ca_file=ca_file
    ) as session:
        result = push(session, source, destination, dry_run=dry_run, sign_key=sign_key)
    for message in result.warnings:
        warn(f"warning: {message}")
    info(summary(result))
    if result.signed is not None:
        info(render_sign_result(result.signed))
    emit(result.to_json(), json_output, lambda data: str(data["reference"]), schema="push")
