"""``hubsnap pull REF [-o DIR]``: fetch an artifact by digest, verified, into the store or DIR."""

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
    info,
    open_session,
    warn,
)
from hubsnap.errors import UsageError


@app.command(
    "pull", epilog=example("hubsnap pull registry.example.com/models/minilm@sha256:… -o ./minilm")
)
def pull_command(
    reference: Annotated[
        str, typer.Argument(metavar="REF", help="HOST[:PORT]/REPO@sha256:… or oci:PATH@sha256:…")
    ],
    *,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="Write the artifact's files here, as independent copies; DIR is left as it "
            "was if the pull fails (without -o the artifact goes into the local store).",
        ),
    ] = None,
    allow_tag: Annotated[
        bool, typer.Option("--allow-tag", help="Accept a tag and print the digest it names.")
    ] = False,
    link: Annotated[
        bool,
        typer.Option(
            "--link",
            help="Keep the artifact in the local store and hard-link the files to its blobs: "
            "they share bytes with the store and are read-only.",
        ),
    ] = False,
    copy: Annotated[
        bool,
        typer.Option("--copy", help="Independent copies (the default).", hidden=True),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace files in DIR that differ from the artifact's.")
    ] = False,
    from_cache: Annotated[
        bool,
        typer.Option(
            "--from-cache",
            help="Take the artifact from the local store when it holds the digest, "
            "without asking REF's repository.",
        ),
    ] = False,
    plain_http: PlainHttpOption = None,
    ca_file: CaFileOption = None,
    store: StoreOption = None,
    json_output: JsonOption = False,
    timeout: TimeoutOption = None,
) -> None:
    """Pull an artifact; every byte is checked against its digest before it is kept."""
    from hubsnap.api.transfer import pull  # noqa: PLC0415

    if link and copy:
        raise UsageError("--link and --copy contradict each other", hint="copies are the default")
    with open_session(
        timeout=timeout, store=store, plain_http=plain_http, ca_file=ca_file
    ) as session:
        result = pull(
            session,
            reference,
            output=output,
            allow_tag=allow_tag,
            link=link,
            force=force,
            from_cache=from_cache,
        )
    for message in result.warnings:
        warn(f"warning: {message}")
    if result.tag is not None:
        info(f"resolved tag {result.tag} to {result.digest}")
    where = f" into {result.directory}" if result.directory else ""
    info(f"fetched {result.blobs_fetched} blobs ({result.bytes_fetched} bytes){where}")
    emit(result.to_json(), json_output, lambda data: str(data["reference"]), schema="pull")
