"""``hubsnap verify``: check an artifact's signatures (and chain) against keys or a policy.

The result is a tree: the artifact, each signature (kind, key fingerprint, signing time) and,
with ``--chain``, each parent below its child. What the report means (``strict``: exit 6 with
the first failure; ``audit``: failures on stderr, exit 0) is decided by
:func:`hubsnap.api.signing.verdict`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from hubsnap.cli import app, example
from hubsnap.cli._output import (
    CaFileOption,
    ChainOption,
    JsonOption,
    PlainHttpOption,
    PolicyOption,
    StoreOption,
    TimeoutOption,
    TrustedKeysOption,
    emit,
    open_session,
    warn,
)

if TYPE_CHECKING:
    from hubsnap.signing.verify import ArtifactCheck, SignatureCheck


def _signature_line(check: SignatureCheck) -> str:
    from hubsnap.signing.kinds import CheckOutcome  # noqa: PLC0415
    from hubsnap.signing.provenance import format_time  # noqa: PLC0415

    if check.outcome is CheckOutcome.MALFORMED:
        return f"skip {check.label:<10}  {check.reason}"
    if not check.ok:
        return f"FAIL {check.label:<10}  {check.reason}"
    text = f"ok   {check.label:<10}  key {check.signer}"
    if check.signed_at is not None:
        text += f"  signed {format_time(check.signed_at)}"
    elif check.attached_at is not None:
        text += f"  attached {format_time(check.attached_at)} (unsigned time)"
    if check.files is not None:
        text += f"  {check.files} files"
    return text


def render_tree(check: ArtifactCheck, indent: str = "") -> str:
    head = check.reference
    if check.source:
        head += f"  {check.source}" + (f" @ {check.commit}" if check.commit else "")
    lines = [head] if not indent else []
    children: list[tuple[str, ArtifactCheck | None]] = [
        (_signature_line(s), None) for s in check.signatures
    ]
    children += [(f"FAIL {failure}", None) for failure in check.failures]
    if check.parent is not None:
        parent = check.parent
        title = f"parent {parent.reference}"
        if parent.source:
            title += f"  {parent.source}" + (f" @ {parent.commit}" if parent.commit else "")
        children.append((title, parent))
    for index, (text, sub) in enumerate(children):
        last = index == len(children) - 1
        lines.append(f"{indent}{'└── ' if last else '├── '}{text}")
        if sub is not None:
            lines.append(render_tree(sub, indent + ("    " if last else "│   ")))
    return "\n".join(line for line in lines if line)


@app.command(
    "verify",
    epilog=example(
        "hubsnap verify registry.example.com/models/minilm@sha256:… --key key.pub --chain",
        "hubsnap verify registry.example.com/models/minilm@sha256:… --policy policy.yaml",
    ),
)
def verify(
    reference: Annotated[str, typer.Argument(metavar="REF", help="Artifact to verify.")],
    *,
    key: TrustedKeysOption = None,
    policy: PolicyOption = None,
    chain: ChainOption = False,
    plain_http: PlainHttpOption = None,
    ca_file: CaFileOption = None,
    store: StoreOption = None,
    timeout: TimeoutOption = None,
    json_output: JsonOption = False,
) -> None:
    """Verify REF's OMS signature and provenance; exit 6 when a requirement fails."""
    from hubsnap.api import signing  # noqa: PLC0415

    with open_session(
        timeout=timeout, store=store, plain_http=plain_http, ca_file=ca_file
    ) as session:
        report = signing.verify(session, reference, keys=key or (), policy=policy, chain=chain)
    emit(report.to_json(), json_output, lambda _: render_tree(report), schema="verify")
    outcome = signing.verdict(report)
    for line in outcome.warnings:
        warn(line)
    if outcome.error is not None:
        raise outcome.error
