"""The mirror job of ``hubsnap serve``: a Hub commit → snapshot → push → sign (→ ``lfs
commit``), and the Hub look-ups the server makes before it queues one.

A job is composed of the public verbs (:func:`~hubsnap.api.snapshot.snapshot`,
:func:`~hubsnap.api.transfer.push`, :func:`~hubsnap.api.signing.sign`,
:func:`~hubsnap.api.lfs.lfs_commit`) in one :class:`~hubsnap.api.session.Session`, so it
inherits their guarantees: a re-push sends only blobs the registry lacks, signing a subject
this key already signed attaches nothing, and an artifact already on top of a branch adds no
commit. Check-then-sign runs under a lease on the subject digest, so two workers cannot both
sign it. A commit whose selected files hold nothing the signature covers is skipped before
anything is downloaded or pushed: nothing unsigned is left in the registry.

The destination of ``OWNER/NAME`` is ``REG/PREFIX/owner/name``, lowercased and made a valid
OCI repository name; its tags are the commit and the name of every ref whose head is still
that commit on the Hub at the end of the job (re-resolved there).
"""

from __future__ import annotations

import fnmatch
import re
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from hubsnap.api.discover import DiscoverQuery, discover
from hubsnap.api.lfs import LfsCommitResult
from hubsnap.api.serve_lfs import commit_refs, store_signatures
from hubsnap.api.session import Session, TransportOptions
from hubsnap.api.signing import sign
from hubsnap.api.snapshot import snapshot
from hubsnap.api.transfer import push
from hubsnap.config import Settings
from hubsnap.digest import Digest
from hubsnap.errors import IntegrityError, NotFoundError, RemoteError, UsageError
from hubsnap.hub import HubClient
from hubsnap.hubtypes import check_repo_id, is_commit
from hubsnap.oci.artifact import model_files
from hubsnap.oci.layout import LayoutStore
from hubsnap.signing.oms import is_signed_path
from hubsnap.snapshot import Selection, select_files

__all__ = [
    "MirrorReport",
    "MirrorSkipped",
    "Observer",
    "destination",
    "list_refs",
    "mirror",
    "nothing_to_sign",
    "ref_name",
    "ref_tag",
    "resolve_ref",
    "watched_repositories",
]

#: ``observe(stage, result, seconds)``: called once per stage a job runs.
Observer = Callable[[str, str, float], None]
Lease = Callable[[str], AbstractContextManager[None]]

_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_SEPARATORS = re.compile(r"[._-]+")
_TAG_BAD = re.compile(r"[^A-Za-z0-9_.-]")
_GLOB = re.compile(r"[*?\[]")
_OCI_NAME_LIMIT = 255
_T = TypeVar("_T")


def _component(text: str) -> str:
    parts = [p for p in _SEPARATORS.split(text.lower()) if p]
    seps = _SEPARATORS.findall(text.lower().strip("._-"))
    out = parts[0] if parts else ""
    for sep, part in zip(seps, parts[1:], strict=False):
        out += (sep if sep in (".", "_", "__") or set(sep) == {"-"} else "-") + part
    return out


def destination(prefix: str, repo_id: str) -> str:
    """``PREFIX/owner/name``: ``repo_id`` lowercased and made a valid OCI repository name."""
    check_repo_id(repo_id)
    owner, _, name = repo_id.partition("/")
    parts = [_component(owner), _component(name)] if name else [_component(owner)]
    if not all(parts) or not all(_COMPONENT.match(p) for p in parts):
        raise UsageError(f"{repo_id!r} has no valid OCI repository name")
    path = f"{prefix.rstrip('/')}/{'/'.join(parts)}"
    if len(path) > _OCI_NAME_LIMIT:
        raise UsageError(f"the destination for {repo_id!r} is longer than 255 characters")
    return path


def ref_name(ref: str) -> str | None:
    """``refs/heads/X`` or ``refs/tags/X`` → ``X``; ``None`` for any other ref (PRs...)."""
    for prefix in ("refs/heads/", "refs/tags/"):
        if ref.startswith(prefix) and len(ref) > len(prefix):
            return ref[len(prefix) :]
    return None


def ref_tag(name: str) -> str:
    """A ref name as an OCI tag: characters a tag cannot hold become ``-``."""
    tag = _TAG_BAD.sub("-", name).lstrip(".-")[:128]
    return tag or "ref"


def resolve_ref(client: HubClient, repo_id: str, ref: str) -> str | None:
    """The commit ``ref`` names on the Hub now; ``None`` when the Hub does not know it."""
    try:
        return client.resolve_revision(repo_id, ref).commit
    except NotFoundError:
        return None


def list_refs(client: HubClient, repo_id: str) -> dict[str, str]:
    """Branch and tag names of ``repo_id`` → their commits (a tag shadows no branch)."""
    check_repo_id(repo_id)
    url = f"{client.endpoint}/api/models/{repo_id}/refs"
    data = client.get_json(url, f"{repo_id} refs").data
    if not isinstance(data, dict):
        raise RemoteError(f"{repo_id}: unexpected refs answer from the Hub")
    refs: dict[str, str] = {}
    for kind in ("tags", "branches"):  # branches last: a branch wins a name clash
        items = data.get(kind) or []
        if not isinstance(items, list):
            raise RemoteError(f"{repo_id}: unexpected refs answer from the Hub")
        for item in items:
            name = item.get("name") if isinstance(item, dict) else None
            commit = item.get("targetCommit") if isinstance(item, dict) else None
            if isinstance(name, str) and name and is_commit(commit):
                refs[name] = str(commit)
    return refs


def watched_repositories(
    settings: Settings, patterns: Sequence[str], *, full: bool = False
) -> list[str]:
    """Repository ids the reconciler polls: literal ``--watch`` ids, and models an
    incremental ``discover`` lists for a glob (by author when the owner is literal); with
    ``full``, every model the glob matches, changed since the last pass or not."""
    found: dict[str, None] = {}
    for pattern in patterns:
        if not _GLOB.search(pattern):
            found[pattern] = None
            continue
        owner = pattern.partition("/")[0]
        author = None if _GLOB.search(owner) else owner
        query = DiscoverQuery(author=author, limit=1000, incremental=not full)
        for model in discover(settings, query).models:
            if fnmatch.fnmatchcase(model.repo_id, pattern):
                found[model.repo_id] = None
    return list(found)


@dataclass(frozen=True)
class MirrorReport:
    """What one job did: ``signed`` is ``False`` when the subject already carried this key's
    signature; ``refs`` are the refs whose tag now names this commit (those still at it on
    the Hub when the job finished), ``ref_tagged`` whether the job's own ref is one of them;
    ``lfs_commits`` the git commits written (``--lfs-repo``; none when already there)."""

    repo_id: str
    commit: str
    destination: str
    digest: str
    bytes_received: int
    bytes_sent: int
    blobs_sent: int
    blobs_mounted: int
    blobs_present: int
    signed: bool
    ref_tagged: bool
    refs: tuple[str, ...] = ()
    lfs_commits: tuple[str, ...] = ()


@dataclass(frozen=True)
class MirrorSkipped:
    """A job with nothing to mirror: the commit has no file the signature would cover
    (``reason`` says why). Nothing was downloaded, pushed or signed."""

    repo_id: str
    commit: str
    reason: str


def _stage(observe: Observer, stage: str, run: Callable[[], _T]) -> _T:
    started = time.monotonic()
    try:
        result = run()
    except BaseException:
        observe(stage, "error", time.monotonic() - started)
        raise
    observe(stage, "ok", time.monotonic() - started)
    return result


def nothing_to_sign(
    client: HubClient, repo_id: str, commit: str, selection: Selection
) -> str | None:
    """Why ``repo_id@commit`` under ``selection`` would give an artifact that cannot be
    signed, or ``None``: decided from the Hub's file list, before anything is downloaded."""
    files = client.resolve_revision(repo_id, commit).files
    download, _ = select_files(files, selection)
    if not download:
        return "no file matches the selection"
    if not any(is_signed_path(f.path) for f in download):
        return "no model files to sign"
    return None


def _check_signable(session: Session, digest: Digest) -> None:
    """The artifact built holds files the signature covers (else nothing may be pushed)."""
    _, manifest = LayoutStore(session.settings.store).read_manifest(digest)
    if not any(is_signed_path(path) for path, _ in model_files(manifest)):
        raise IntegrityError(f"artifact {digest} has no model files to sign; not pushed")


def _refs_at(settings: Settings, repo_id: str, commit: str) -> list[str]:
    with HubClient.from_settings(settings) as client:
        heads = list_refs(client, repo_id)
    return sorted(name for name, head in heads.items() if head == commit)


def mirror(
    settings: Settings,
    *,
    repo_id: str,
    commit: str,
    selection: Selection,
    ref: str | None,
    prefix: str,
    key: Path,
    lease: Lease,
    observe: Observer = lambda stage, result, seconds: None,
    transport: TransportOptions | None = None,
    lfs_repo: Path | None = None,
) -> MirrorReport | MirrorSkipped:
    """Mirror ``repo_id@commit`` to ``destination(prefix, repo_id)``, signed with ``key``;
    with ``lfs_repo``, commit it there too (see :mod:`hubsnap.api.serve_lfs`).

    A commit with nothing to sign is skipped before anything is pushed (an unsigned artifact
    is never left in the registry). Every ref whose head is still ``commit`` on the Hub at
    the end gets its tag; ``ref`` is the one the job was queued for."""
    dest = destination(prefix, repo_id)
    with HubClient.from_settings(settings) as client:
        why = _stage(observe, "plan", lambda: nothing_to_sign(client, repo_id, commit, selection))
    if why is not None:
        return MirrorSkipped(repo_id, commit, why)
    with Session(settings, transport) as session:
        shot = _stage(
            observe, "snapshot",
            lambda: snapshot(session, repo_id, commit, selection, output=None),
        )  # fmt: skip
        if shot.document.commit != commit or shot.reference is None or shot.digest is None:
            raise RemoteError(f"{repo_id}@{commit[:12]}: the Hub resolved another commit")
        source = shot.reference
        _check_signable(session, shot.digest)
        pushed = _stage(observe, "push", lambda: push(session, source, f"{dest}:{commit}"))
        subject = f"{dest}@{pushed.digest}"

        def signing() -> bool:
            with lease(str(pushed.digest)):
                return bool(sign(session, subject, key).attached)

        signed = _stage(observe, "sign", signing)

        def tagging() -> list[str]:
            # A ref whose head moved on keeps its tag: a newer commit owns it.
            names = _refs_at(settings, repo_id, commit)
            for name in names:
                push(session, source, f"{dest}:{ref_tag(name)}")
            return names

        refs = _stage(observe, "tag", tagging)
        commits: list[str] = []
        if lfs_repo is not None and refs:

            def committing() -> list[LfsCommitResult]:
                store_signatures(session, subject)  # so that `lfs verify DIR --key` finds them
                return commit_refs(session, source, lfs_repo, repo_id, refs)

            written = _stage(observe, "lfs", committing)
            commits = [r.commit for r in written if r.changed]
    present = pushed.blobs_total - pushed.blobs_sent - pushed.blobs_mounted
    fetched = set(shot.downloaded)
    received = sum(f.size for f in shot.document.files if f.path in fetched)
    return MirrorReport(
        repo_id=repo_id, commit=commit, destination=dest, digest=str(pushed.digest),
        bytes_received=received, bytes_sent=pushed.bytes_sent, blobs_sent=pushed.blobs_sent,
        blobs_mounted=pushed.blobs_mounted, blobs_present=present, signed=signed,
        ref_tagged=ref in refs, refs=tuple(refs), lfs_commits=tuple(commits),
    )  # fmt: skip
