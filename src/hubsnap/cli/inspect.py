"""``hubsnap inspect REF``: an artifact's manifest, annotations, layers and referrers tree."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

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
    print_table,
    warn,
)

if TYPE_CHECKING:
    from hubsnap.api.inspect import InspectResult, ReferrerNode


def _safe(text: str) -> str:
    """Remote text made safe for a terminal and a table: control characters, line breaks and
    bidirectional overrides are shown as Python escapes (a backslash as two), never
    interpreted."""
    from hubsnap.oci.directory import BIDI_CONTROLS  # noqa: PLC0415

    if all(c.isprintable() and c not in BIDI_CONTROLS and c != "\\" for c in text):
        return text
    return "".join(
        c if c.isprintable() and c not in BIDI_CONTROLS and c != "\\" else ascii(c)[1:-1]
        for c in text
    )


_SIGNATURE_KINDS = {"oms": "OMS signature", "provenance": "provenance", "diff": "diff report"}


def _signature_label(node: ReferrerNode) -> str:
    signature = node.signature
    if signature is None:
        return ""
    if signature.kind is None:
        return f"  (unreadable signature: {_safe(signature.problem or 'unknown payload')})"
    what = _SIGNATURE_KINDS.get(signature.kind.value, signature.kind.value)
    key = f", key {_safe(signature.key_hint)}" if signature.key_hint else ""
    return f"  ({what}{key})"


def _tree(nodes: tuple[ReferrerNode, ...], indent: str) -> list[str]:
    lines = []
    for position, node in enumerate(nodes):
        last = position == len(nodes) - 1
        d = node.descriptor
        kind = _safe(d.artifact_type or d.media_type)
        label = _signature_label(node)
        lines.append(f"{indent}{'└── ' if last else '├── '}{d.digest}  {kind}{label}")
        lines += _tree(node.referrers, indent + ("    " if last else "│   "))
    return lines


def _render(result: InspectResult) -> str:
    manifest = result.manifest
    lines = [
        result.reference,
        f"artifactType: {_safe(manifest.artifact_type or manifest.config.media_type)}",
        f"size:         {result.size}",
    ]
    if manifest.subject is not None:
        lines.append(f"subject:      {manifest.subject.digest}")
    if manifest.annotations:
        lines.append("annotations:")
        lines += [
            f"  {_safe(key)}: {_safe(value)}" for key, value in sorted(manifest.annotations.items())
        ]
    rows = [
        [_safe(layer.filepath or "-"), _safe(layer.media_type), str(layer.size), str(layer.digest)]
        for layer in manifest.layers
    ]
    lines += ["", print_table(("path", "media type", "size", "digest"), rows)]
    lines += ["", f"referrers: {len(result.referrers) or 'none'}"]
    lines += _tree(result.referrers, "")
    return "\n".join(lines)


@app.command(
    "inspect",
    epilog=example(
        "hubsnap inspect registry.example.com/models/minilm@sha256:…",
        "hubsnap inspect oci:~/.cache/hubsnap/store@sha256:… --json",
    ),
)
def inspect_command(
    reference: Annotated[
        str, typer.Argument(metavar="REF", help="A registry ref or oci:PATH, by tag or digest.")
    ],
    *,
    plain_http: PlainHttpOption = None,
    ca_file: CaFileOption = None,
    store: StoreOption = None,
    json_output: JsonOption = False,
    timeout: TimeoutOption = None,
) -> None:
    """Show an artifact's manifest, annotations, layers and referrers."""
    from hubsnap.api.inspect import inspect  # noqa: PLC0415

    with open_session(
        timeout=timeout, store=store, plain_http=plain_http, ca_file=ca_file
    ) as session:
        result = inspect(session, reference)
    for message in result.warnings:
        warn(f"warning: {message}")

    def render(_: dict[str, Any]) -> str:
        return _render(result)

    emit(result.to_json(), json_output, render, schema="inspect")
