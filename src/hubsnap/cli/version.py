"""``hubsnap version``."""

from __future__ import annotations

from hubsnap import __version__
from hubsnap.cli import app, example
from hubsnap.cli._output import JsonOption, emit


@app.command("version", epilog=example("hubsnap version --json"))
def version(json_output: JsonOption = False) -> None:
    """Print hubsnap's version."""
    emit({"version": __version__}, json_output, lambda data: data["version"], schema="version")
