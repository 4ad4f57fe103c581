"""``hubsnap lfs ...``: an artifact as a commit of Git LFS pointers, and back.

The verbs and git are imported when a command runs, so ``hubsnap --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hubsnap.cli import app, example, group
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
    info,
    open_session,
    warn,
)

lfs_app = group("lfs", "Artifacts as Git LFS commits: pointers whose oids are the layer digests.")
app.add_typer(lfs_app)


@lfs_app.command(
    "commit", epilog=example("hubsnap lfs commit sha256:… --repo ./models --branch minilm")
)
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

    with open_session(
        timeout=timeout, store=store, plain_http=plain_http, ca_file=ca_file
    ) as session:
        result = lfs_commit(
            session,
            reference,
            repo,
            branch=branch,
            message=message,
            author=Identity.parse(author) if author is not None else None,
            lock=not no_lock,
        )
    if not result.changed:
        info(f"unchanged: {result.branch} already holds {result.artifact}")
    emit(result.to_json(), json_output, lambda data: str(data["commit"]), schema="lfs-commit")


@lfs_app.command(
    "import",
    epilog=example(
        "hubsnap lfs import ./models@minilm",
        "hubsnap lfs import ./all-MiniLM-L6-v2 --source https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2",
    ),
)
def import_command(
    target: Annotated[
        str, typer.Argument(metavar="DIR[@REV]", help="Repository and revision (HEAD).")
    ],
    *,
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            help="The Hub repository URL, https://huggingface.co/REPO (default: the commit's "
            "Hubsnap-Source trailer).",
        ),
    ] = None,
    store: StoreOption = None,
    json_output: JsonOption = False,
    timeout: TimeoutOption = None,
) -> None:
    """Pack a commit of LFS pointers into its ModelPack artifact in the local store (missing
    objects are fetched with git-lfs; each is hashed and must equal its oid); print
    oci:STORE@sha256:…."""
    from hubsnap.api.lfs_import import lfs_import  # noqa: PLC0415

    with open_session(timeout=timeout, store=store) as session:
        result = lfs_import(session, target, source=source)
    if result.fetched:
        info(f"fetched {result.fetched} Git LFS object(s) with git-lfs")
    if result.named is not None and result.named != result.digest:
        warn(f"the commit names {result.named}; its files import to {result.digest}")
    emit(result.to_json(), json_output, lambda data: str(data["reference"]), schema="lfs-import")


def _render_verify(data: dict[str, Any]) -> str:
    lines = [f"commit {data['commit']}", f"artifact {data['artifact']}"]
    lines.append("tree matches the artifact" if data["tree_matches"] else "tree differs:")
    lines += [f"  {line}" for line in data["differences"]]
    if data["signatures"] is None:
        lines.append("signatures not checked (no --key or --policy)")
    else:
        lines.append("signatures verified")
    return "\n".join(lines)


@lfs_app.command("verify", epilog=example("hubsnap lfs verify ./models@minilm --key key.pub"))
def verify_command(
    target: Annotated[
        str, typer.Argument(metavar="DIR[@REV]", help="Repository and revision (HEAD).")
    ],
    *,
    key: TrustedKeysOption = None,
    policy: PolicyOption = None,
    chain: ChainOption = False,
    plain_http: PlainHttpOption = None,
    ca_file: CaFileOption = None,
    store: StoreOption = None,
    json_output: JsonOption = False,
    timeout: TimeoutOption = None,
) -> None:
    """Check that a commit's tree is exactly the artifact its trailer names (exit 6 if not),
    and with --key or --policy that the artifact's signatures verify."""
    from hubsnap.api.lfs_verify import lfs_verify  # noqa: PLC0415
    from hubsnap.errors import IntegrityError  # noqa: PLC0415

    with open_session(
        timeout=timeout, store=store, plain_http=plain_http, ca_file=ca_file
    ) as session:
        result = lfs_verify(session, target, keys=key or (), policy=policy, chain=chain)
    emit(result.to_json(), json_output, _render_verify, schema="lfs-verify")
    if not result.tree_matches:
        raise IntegrityError(
            f"commit {result.commit} differs from {result.artifact} in "
            f"{len(result.differences)} path(s): {result.differences[0]}"
        )
