"""``hubsnap serve-model REF``: serve an artifact's model as a Hugging Face task endpoint."""

from __future__ import annotations

import signal
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from hubsnap.cli import app, example
from hubsnap.cli._output import (
    CaFileOption,
    PlainHttpOption,
    StoreOption,
    TimeoutOption,
    open_session,
    warn,
)

if TYPE_CHECKING:
    from hubsnap.api.serve_model import ServedModel


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@app.command(
    "serve-model",
    epilog=example("hubsnap serve-model localhost:5000/models/minilm@sha256:… --port 8081"),
)
def serve_model_command(
    reference: Annotated[
        str, typer.Argument(metavar="REF", help="HOST[:PORT]/REPO@sha256:…, oci:PATH@… or sha256:…")
    ],
    *,
    port: Annotated[
        int, typer.Option("--port", help="Port to listen on (0: any free one).")
    ] = 8080,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    task: Annotated[
        str | None,
        typer.Option(
            "--task",
            help="text-classification, token-classification or feature-extraction "
            "(default: the model card's pipeline_tag).",
        ),
    ] = None,
    plain_http: PlainHttpOption = None,
    ca_file: CaFileOption = None,
    store: StoreOption = None,
    timeout: TimeoutOption = None,
) -> None:
    """Serve a model with a CPU transformers pipeline (POST / {"inputs": [...]}) until stopped."""
    from hubsnap.api.serve_model import serve_model  # noqa: PLC0415

    def ready(served: ServedModel) -> None:
        warn(f"serving {served.reference} ({served.task.value}) at {served.url}")

    signal.signal(signal.SIGTERM, _stop)
    try:
        with open_session(
            timeout=timeout, store=store, plain_http=plain_http, ca_file=ca_file
        ) as session:
            serve_model(session, reference, task=task, host=host, port=port, ready=ready)
    except KeyboardInterrupt:
        warn("stopped")
