"""``hubsnap snapshot REPO_ID[@REVISION]``: pin a Hub revision as an artifact in the store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hubsnap.cli import app, example
from hubsnap.cli._output import (
    JsonOption,
    StoreOption,
    TimeoutOption,
    emit,
    info,
    open_session,
)

if TYPE_CHECKING:
    from hubsnap.api.snapshot import SnapshotResult


def _render(result: SnapshotResult) -> str:
    if not result.dry_run:
        return result.reference or ""
    doc = result.document
    wanted = set(result.downloaded)
    lines = [f"{doc.model_id}@{doc.revision} is commit {doc.commit} (dry run: nothing written)"]
    for file in doc.files:
        action = "download" if file.path in wanted else "record  "
        lines.append(f"  {action}  {file.size:>12}  {file.path}")
    return "\n".join(lines)


@app.command(
    "snapshot",
    epilog=example(
        "hubsnap snapshot sentence-transformers/all-MiniLM-L6-v2@main",
        "hubsnap snapshot org/model@v1.0 --include '*.json' --metadata-only --dry-run",
    ),
)
def snapshot_command(
    model: Annotated[str, typer.Argument(metavar="REPO_ID[@REVISION]", help="Hub model.")],
    *,
    include: Annotated[
        list[str] | None,
        typer.Option("--include", metavar="GLOB", help="Only files matching GLOB."),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", metavar="GLOB", help="Leave out files matching GLOB."),
    ] = None,
    metadata_only: Annotated[
        bool,
        typer.Option(
            "--metadata-only",
            help="Download configs, tokenizer, indexes and card; record weights by Hub hash.",
        ),
    ] = False,
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Where to write the snapshot document.")
    ] = Path("snapshot.yaml"),
    store: StoreOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Resolve and list; write nothing.")
    ] = False,
    json_output: JsonOption = False,
    timeout: TimeoutOption = None,
    sign_key: Annotated[
        Path | None,
        typer.Option("--sign", metavar="KEY", help="Then sign the artifact with this key."),
    ] = None,
) -> None:
    """Resolve a revision to its commit, download and verify its files, pack the artifact.

    Prints oci:STORE@sha256:… (the artifact in the local store).
    """
    from hubsnap.api.snapshot import snapshot  # noqa: PLC0415
    from hubsnap.cli.sign import render_sign_result  # noqa: PLC0415
    from hubsnap.snapshot import Selection, split_repo_revision  # noqa: PLC0415

    repo_id, revision = split_repo_revision(model)
    selection = Selection(tuple(include or ()), tuple(exclude or ()), metadata_only)
    with open_session(timeout=timeout, store=store) as session:
        result = snapshot(
            session,
            repo_id,
            revision,
            selection,
            output=None if dry_run else output,
            dry_run=dry_run,
            sign_key=sign_key,
        )
    if not result.dry_run:
        info(
            f"{repo_id}@{result.document.commit[:12]}: {len(result.downloaded)} downloaded, "
            f"{len(result.reused)} already in the store; wrote {output}"
        )
    if result.signed is not None:
        info(render_sign_result(result.signed))
    emit(result.to_json(), json_output, lambda _: _render(result), schema="snapshot-result")
