"""``hubsnap login`` / ``logout``: check and store registry credentials, and forget them."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from hubsnap.cli import app, example
from hubsnap.cli._output import (
    CaFileOption,
    JsonOption,
    PlainHttpOption,
    TimeoutOption,
    emit,
    open_session,
    warn,
)
from hubsnap.errors import UsageError


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.read().rstrip("\r\n")
    if sys.stdin.isatty():
        return str(typer.prompt("Password", hide_input=True))
    raise UsageError("no password given", hint="pipe it in with --password-stdin")


@app.command(
    "login",
    epilog=example(
        'echo "$PASSWORD" | hubsnap login registry.example.com -u alice --password-stdin'
    ),
)
def login_command(
    registry: Annotated[str, typer.Argument(metavar="REGISTRY", help="HOST[:PORT].")],
    *,
    username: Annotated[str, typer.Option("-u", "--username", help="User name.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    plain_http: PlainHttpOption = None,
    ca_file: CaFileOption = None,
    json_output: JsonOption = False,
    timeout: TimeoutOption = None,
) -> None:
    """Log in to a registry; credentials go to the docker config, as docker and oras do."""
    from hubsnap.api.login import login  # noqa: PLC0415

    password = _read_password(password_stdin)
    with open_session(timeout=timeout, plain_http=plain_http, ca_file=ca_file) as session:
        result = login(session, registry, username, password)
    emit(
        result.to_json(),
        json_output,
        lambda data: f"Login succeeded: credentials for {data['registry']} in {data['stored_in']}",
        schema="login",
    )


@app.command("logout", epilog=example("hubsnap logout registry.example.com"))
def logout_command(
    registry: Annotated[str, typer.Argument(metavar="REGISTRY", help="HOST[:PORT].")],
    *,
    json_output: JsonOption = False,
) -> None:
    """Remove a registry's credentials from the docker config or its credential helper."""
    from hubsnap.api.login import logout  # noqa: PLC0415

    with open_session(timeout=None) as session:
        result = logout(session, registry)
    if result.removed_from is None:
        warn(f"not logged in to {result.registry}")

    def render(data: dict[str, Any]) -> str:
        where = data["removed_from"]
        return f"Removed credentials for {data['registry']} from {where}" if where else ""

    emit(result.to_json(), json_output, render, schema="logout")
