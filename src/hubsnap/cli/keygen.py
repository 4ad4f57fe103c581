"""``hubsnap keygen``: an ECDSA key pair for signing (private key 0600, ``.pub`` beside it)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hubsnap.cli import app, example
from hubsnap.cli._output import JsonOption, emit

if TYPE_CHECKING:
    from hubsnap.signing.keys import KeyPair


def _prompt(message: str) -> str:
    # Only ask a person: piped or scripted runs get the "no password" error instead.
    if not sys.stdin.isatty():
        return ""
    return str(typer.prompt(message, hide_input=True, confirmation_prompt=True))


def _render(pair: KeyPair) -> str:
    return (
        f"private key: {pair.private_path}\n"
        f"public key:  {pair.public_path}\n"
        f"fingerprint: {pair.fingerprint}\n"
        f"key id:      {pair.key_id}  (signatures name their signer by it)"
    )


@app.command("keygen", epilog=example("hubsnap keygen -o key.pem"))
def keygen(
    output: Annotated[Path, typer.Option("-o", "--output", help="Private key file to write.")],
    curve: Annotated[str, typer.Option("--curve", help="p256 (default) or p384.")] = "p256",
    password_env: Annotated[
        str | None,
        typer.Option("--password-env", help="Encrypt the key with the password in this variable."),
    ] = None,
    encrypt: Annotated[
        bool, typer.Option("--encrypt", help="Encrypt the key with a password asked for here.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Generate an ECDSA signing key (PEM) and its public key beside it (.pub)."""
    from hubsnap.api import signing  # noqa: PLC0415

    pair = signing.keygen(
        output, curve=curve, password_env=password_env, encrypt=encrypt, prompt=_prompt
    )
    emit(pair.to_json(), json_output, lambda _: _render(pair), schema="keygen")
