"""``hubsnap store ls|rm|gc|verify|tag``: the local store, in the manner of ``hf cache``."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hubsnap.cli import app, example, group
from hubsnap.cli._output import (
    JsonOption,
    StoreOption,
    emit,
    human_size,
    info,
    open_session,
    print_table,
    warn,
)

if TYPE_CHECKING:
    from hubsnap.oci.storeops import Removal

store_app = group(
    "store", "The local store: list, remove, collect garbage, verify, tag (like hf cache)."
)
app.add_typer(store_app)

WaitOption = Annotated[
    float,
    typer.Option("--wait", help="Seconds to wait for other hubsnap processes using the store."),
]
DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Say what would go; delete nothing.")]


def _ago(when: float) -> str:
    if not when:
        return "-"
    seconds = max(0.0, time.time() - when)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count > 1 else ''} ago"
    return "just now"


def _render_ls(data: dict[str, Any]) -> str:
    if not data["artifacts"]:
        return f"the store {data['store']} holds no artifacts"
    rows = [
        [
            a["model_id"] or "-",
            (a["revision"] or "-")[:12],
            ", ".join(a["tags"]) or "-",
            human_size(a["size"]),
            _ago(a["last_used"]),
            str(len(a["referrers"])),
            a["digest"][:19],
        ]
        for a in data["artifacts"]
    ]
    table = print_table(
        ("repo", "revision", "tags", "size", "last used", "referrers", "digest"), rows
    )
    count = len(data["artifacts"])
    return f"{table}\n\n{count} artifact(s), {human_size(data['size'])} in {data['store']}"


@store_app.command("ls", epilog=example("hubsnap store ls", "hubsnap store ls --json"))
def ls_command(*, store: StoreOption = None, json_output: JsonOption = False) -> None:
    """List the store's artifacts: repo, revision, tags, size, last use, referrers."""
    from hubsnap.api.store import store_list  # noqa: PLC0415

    with open_session(timeout=None, store=store) as session:
        result = store_list(session)
    emit(result.to_json(), json_output, _render_ls, schema="store-ls")


def _confirm(removal: Removal) -> bool:
    if not sys.stdin.isatty():
        return True
    for digest in removal.artifacts:
        warn(f"  artifact  {digest}")
    for digest in removal.referrers:
        warn(f"  referrer  {digest}")
    return bool(typer.confirm("Remove these and the blobs only they use?", err=True))


def _render_deleted(data: dict[str, Any]) -> str:
    verb = "would free" if data["dry_run"] else "freed"
    swept = data.get("swept") or 0
    left = f"; removed {swept} temp file(s) of interrupted or killed runs" if swept else ""
    return f"{verb} {human_size(data['bytes'])} ({len(data['blobs'])} blobs){left}"


@store_app.command(
    "rm",
    epilog=example(
        "hubsnap store rm sentence-transformers/all-minilm-l6-v2@main",
        "hubsnap store rm sha256:… --yes",
    ),
)
def rm_command(
    references: Annotated[
        list[str],
        typer.Argument(metavar="REF...", help="sha256:…, a store tag, or REPO@REV."),
    ],
    *,
    yes: Annotated[bool, typer.Option("-y", "--yes", help="Do not ask for confirmation.")] = False,
    dry_run: DryRunOption = False,
    wait: WaitOption = 30.0,
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Remove artifacts with their referrers, and the blobs nothing else uses.

    Asks first on a terminal (--yes skips the question).
    """
    from hubsnap.api.store import store_remove  # noqa: PLC0415
    from hubsnap.errors import CheckFailed  # noqa: PLC0415

    with open_session(timeout=None, store=store) as session:
        result = store_remove(
            session, references, dry_run=dry_run, confirm=None if yes else _confirm, wait=wait
        )
    if result is None:
        raise CheckFailed("nothing removed: not confirmed")
    data = result.to_json()
    verb = "would remove" if dry_run else "removed"
    info(f"{verb} {len(data['artifacts'])} artifact(s), {len(data['referrers'])} referrer(s)")
    emit(data, json_output, _render_deleted, schema="store-rm")


@store_app.command("gc", epilog=example("hubsnap store gc --dry-run"))
def gc_command(
    *,
    dry_run: DryRunOption = False,
    wait: WaitOption = 30.0,
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Delete blobs that no artifact or referrer in the store uses.

    Safe while other hubsnap processes run: it waits until none uses the store.
    """
    from hubsnap.api.store import store_gc  # noqa: PLC0415

    with open_session(timeout=None, store=store) as session:
        result = store_gc(session, dry_run=dry_run, wait=wait)
    emit(result.to_json(), json_output, _render_deleted, schema="store-gc")


def _render_verify(data: dict[str, Any]) -> str:
    lines = [
        f"checked {data['blobs']} blobs ({human_size(data['bytes'])}, "
        f"{data['blake3']} by BLAKE3) in {data['store']}"
    ]
    for item in data["damaged"]:
        users = ", ".join(item["used_by"]) or "no artifact"
        lines.append(f"DAMAGED {item['digest']}  {item['problem']}  (used by {users})")
    return "\n".join(lines)


@store_app.command("verify", epilog=example("hubsnap store verify"))
def verify_command(*, store: StoreOption = None, json_output: JsonOption = False) -> None:
    """Re-hash every blob (BLAKE3 where recorded, else SHA-256); exit 6 naming damaged ones."""
    from hubsnap.api.store import store_verify  # noqa: PLC0415
    from hubsnap.errors import IntegrityError  # noqa: PLC0415
    from hubsnap.progress import transfer_progress  # noqa: PLC0415

    with (
        open_session(timeout=None, store=store) as session,
        transfer_progress("verifying store", None) as bar,
    ):
        result = store_verify(session, bar.advance)
    emit(result.to_json(), json_output, _render_verify, schema="store-verify")
    if result.damaged:
        first = result.damaged[0]
        users = [u for d in result.damaged for u in d.used_by]
        again = f"hubsnap snapshot {users[0]} (or pull it again)" if users else "nothing uses it"
        raise IntegrityError(
            f"{len(result.damaged)} damaged blob(s) in the store, e.g. {first.digest}",
            hint=f"delete {first.path}, then re-create what used it: {again}",
        )


@store_app.command(
    "tag",
    epilog=example("hubsnap store tag sentence-transformers/all-minilm-l6-v2@main minilm:prod"),
)
def tag_command(
    reference: Annotated[str, typer.Argument(metavar="REF", help="sha256:…, a tag or REPO@REV.")],
    name: Annotated[str, typer.Argument(metavar="NAME", help="The new tag, e.g. org/model:prod.")],
    *,
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Tag an artifact of the store (a tag that named another artifact moves)."""
    from hubsnap.api.store import store_tag  # noqa: PLC0415

    with open_session(timeout=None, store=store) as session:
        result = store_tag(session, reference, name)
    emit(
        result.to_json(),
        json_output,
        lambda d: f"tagged {d['digest']} as {d['tag']}",
        schema="store-tag",
    )
