"""``hubsnap sign``: attach an OMS signature and a provenance statement to an artifact."""

from __future__ import annotations

import sys
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
    open_session,
    warn,
)

if TYPE_CHECKING:
    from hubsnap.api.signing import SignResult

#: As :data:`hubsnap.signing.keys.DEFAULT_PASSWORD_ENV` (a test keeps them equal): named here
#: so that building the command line does not load the cryptography stack.
DEFAULT_PASSWORD_ENV = "HUBSNAP_KEY_PASSWORD"  # noqa: S105 (a variable name, not a secret)

KeyOption = Annotated[
    Path, typer.Option("--key", help="ECDSA private key (PEM).", envvar="HUBSNAP_KEY")
]
PasswordEnvOption = Annotated[
    str,
    typer.Option("--password-env", help="Variable holding the key's password, if encrypted."),
]


def _prompt(message: str) -> str:
    # Only ask a person: piped or scripted runs get the "no password" error instead.
    if not sys.stdin.isatty():
        return ""
    return str(typer.prompt(message, hide_input=True))


def render_sign_result(result: SignResult) -> str:
    from hubsnap.signing.kinds import SignatureKind  # noqa: PLC0415

    kinds = set(result.attached)
    lines = [
        f"signed {result.subject}" if kinds else f"already signed {result.subject}",
        f"  key         {result.signer}",
        f"  signature   {result.signature}  (OMS, {result.files} files)"
        + ("" if SignatureKind.OMS in kinds else "  [kept]"),
        f"  provenance  {result.provenance}"
        + ("" if SignatureKind.PROVENANCE in kinds else "  [kept]"),
    ]
    if result.parent is not None:
        lines.append(f"  parent      {result.parent.uri}")
    return "\n".join(lines)


@app.command(
    "sign",
    epilog=example(
        "hubsnap sign registry.example.com/models/minilm@sha256:… --key key.pem",
        "hubsnap sign localhost:5000/minilm-int8@sha256:… --key key.pem "
        "--parent localhost:5000/minilm@sha256:…",
    ),
)
def sign(
    reference: Annotated[str, typer.Argument(metavar="REF", help="Artifact to sign.")],
    *,
    key: KeyOption,
    parent: Annotated[
        str | None, typer.Option("--parent", help="The artifact this model derives from.")
    ] = None,
    parent_key: Annotated[
        list[Path] | None,
        typer.Option(
            "--parent-key", metavar="PUB", help="Public key trusted for the parent's provenance."
        ),
    ] = None,
    revision: Annotated[
        str | None,
        typer.Option("--revision", help="The Hub revision that was requested (default: commit)."),
    ] = None,
    snapshot: Annotated[
        Path | None,
        typer.Option(
            "--snapshot",
            help="snapshot.yaml of this artifact: records the revision it requested.",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Sign again even if this key's signatures are attached."),
    ] = False,
    password_env: PasswordEnvOption = DEFAULT_PASSWORD_ENV,
    plain_http: PlainHttpOption = None,
    ca_file: CaFileOption = None,
    store: StoreOption = None,
    timeout: TimeoutOption = None,
    json_output: JsonOption = False,
) -> None:
    """Sign REF (resolved to its digest first): OMS signature + provenance as referrers.

    Attaches nothing when this key's valid signature and provenance are already there.
    """
    from hubsnap.api import signing  # noqa: PLC0415

    with open_session(
        timeout=timeout, store=store, plain_http=plain_http, ca_file=ca_file
    ) as session:
        result = signing.sign(
            session,
            reference,
            key,
            parent=parent,
            parent_keys=parent_key or (),
            requested_revision=revision,
            snapshot=snapshot,
            password_env=password_env,
            prompt=_prompt,
            force=force,
        )
    for note in result.notes:
        warn(f"note: {note}")
    emit(result.to_json(), json_output, lambda _: render_sign_result(result), schema="sign")
