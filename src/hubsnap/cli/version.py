"""``hubsnap version``."""

from __future__ import annotations

from hubsnap import __version__
from hubsnap.cli import app, example
from hubsnap.cli._output import JsonOption, emit


def print_version(json_output: bool) -> None:
    emit({"version": __version__}, json_output, lambda data: data["version"], schema="version")


@app.command("version", epilog=example("hubsnap version --json"))
def version(json_output: JsonOption = False) -> None:
    """Print hubsnap's version."""
    print_version(json_output)
