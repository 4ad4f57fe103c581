"""``hubsnap lfs ...``: an artifact as a commit of Git LFS pointers, and back.

The verbs and git are imported when a command runs, so ``hubsnap --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hubsnap.cli import app
from hubsnap.cli._output import (
    CaFileOption,
    JsonOption,
    PlainHttpOption,
    StoreOption,
    TimeoutOption,
    emit,
    registry_settings,
    warn,
)

lfs_app = typer.Typer(
    name="lfs",
    help="Artifacts as Git LFS commits: pointers whose oids are the layer digests.",
    no_args_is_help=True,
)
app.add_typer(lfs_app)


@lfs_app.command("commit")
def commit_command(
    reference: Annotated[
        str, typer.Argument(metavar="REF", help="The artifact: sha256:…, oci:PATH@… or a registry.")
    ],
    *,
    repo: Annotated[Path, typer.Option("--repo", help="The git repository (created when absent).")],
    branch: Annotated[
        str | None,
        typer.Option("--branch", help="Branch to commit on (default: the checked-out one)."),
    ] = None,
    message: Annotated[
        str | None, typer.Option("-m", "--message", help="Commit title (trailers are added).")
    ] = None,
    author: Annotated[
        str | None,
        typer.Option("--author", help='Author and committer, "Name <email>".'),
    ] = None,
    no_lock: Annotated[
        bool,
        typer.Option("--no-lock", help="Do not lock the branch to the artifact in git config."),
    ] = False,
    plain_http: PlainHttpOption = None,
    ca_file: CaFileOption = None,
    store: StoreOption = None,
    json_output: JsonOption = False,
    timeout: TimeoutOption = None,
) -> None:
    """Write the artifact as one commit whose tree is exactly its files; print its id."""
    from hubsnap.api.lfs import lfs_commit  # noqa: PLC0415
    from hubsnap.lfs.fastimport import Identity  # noqa: PLC0415

    config, transport = registry_settings(
        timeout=timeout, store=store, plain_http=plain_http, ca_file=ca_file
    )
    result = lfs_commit(
        config,
        reference,
        repo,
        branch=branch,
        message=message,
        author=Identity.parse(author) if author is not None else None,
        lock=not no_lock,
        transport=transport,
    )
    if not result.changed:
        warn(f"unchanged: {result.branch} already holds {result.artifact}")
    emit(result.to_json(), json_output, lambda data: str(data["commit"]))
