"""``hubsnap export-signature``: the OMS bundle as a file for ``model_signing verify key``."""

from __future__ import annotations

from pathlib import Path
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
    open_session,
)


@app.command(
    "export-signature",
    epilog=example(
        "hubsnap export-signature localhost:5000/models/minilm@sha256:… -o model.sig --key key.pub"
    ),
)
def export_signature(
    reference: Annotated[str, typer.Argument(metavar="REF", help="Signed artifact.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Bundle file to write.")],
    *,
    key: Annotated[
        Path | None,
        typer.Option("--key", help="Export the signature this public key made (default: newest)."),
    ] = None,
    plain_http: PlainHttpOption = None,
    ca_file: CaFileOption = None,
    store: StoreOption = None,
    timeout: TimeoutOption = None,
    json_output: JsonOption = False,
) -> None:
    """Write REF's OMS signature bundle to a file (model.sig) for model_signing."""
    from hubsnap.api import signatures  # noqa: PLC0415

    with open_session(
        timeout=timeout, store=store, plain_http=plain_http, ca_file=ca_file
    ) as session:
        result = signatures.export_signature(session, reference, output, key=key)
    emit(
        result.to_json(),
        json_output,
        lambda d: f"wrote {d['output']} (signature {d['referrer']})",
        schema="export-signature",
    )
