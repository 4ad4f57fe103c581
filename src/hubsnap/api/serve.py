"""The mirror job of ``hubsnap serve``: a Hub commit → snapshot → push → sign, and the Hub
look-ups the server makes before it queues one.

A job is composed of the public verbs (:func:`~hubsnap.api.snapshot.snapshot`,
:func:`~hubsnap.api.transfer.push`, :func:`~hubsnap.api.signing.sign`) in one
:class:`~hubsnap.api.session.Session`, and nothing else, so it inherits their guarantees:
a re-push sends only blobs the registry lacks, and signing a subject this key already signed
attaches nothing. Check-then-sign runs under a lease on the
subject digest, so two workers cannot both sign it.

The destination of ``OWNER/NAME`` is ``REG/PREFIX/owner/name``, lowercased and made a valid
OCI repository name; its tags are the commit and, when the commit is still the ref's head at
the end of the job (re-resolved on the Hub), the ref name.
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
from hubsnap.api.session import Session, TransportOptions
from hubsnap.api.signing import sign
from hubsnap.api.snapshot import snapshot
from hubsnap.api.transfer import push
from hubsnap.config import Settings
from hubsnap.errors import NotFoundError, RemoteError, UsageError
from hubsnap.hub import HubClient
from hubsnap.hubtypes import check_repo_id, is_commit
from hubsnap.snapshot import Selection

__all__ = [
    "MirrorReport",
    "Observer",
    "destination",
    "list_refs",
    "mirror",
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


def watched_repositories(settings: Settings, patterns: Sequence[str]) -> list[str]:
    """Repository ids the reconciler polls: literal ``--watch`` ids, and models an
    incremental ``discover`` lists for a glob (by author when the owner is literal)."""
    found: dict[str, None] = {}
    for pattern in patterns:
        if not _GLOB.search(pattern):
            found[pattern] = None
            continue
        owner = pattern.partition("/")[0]
        author = None if _GLOB.search(owner) else owner
        query = DiscoverQuery(author=author, limit=1000, incremental=True)
        for model in discover(settings, query).models:
            if fnmatch.fnmatchcase(model.repo_id, pattern):
                found[model.repo_id] = None
    return list(found)


@dataclass(frozen=True)
class MirrorReport:
    """What one job did: ``signed`` is ``False`` when the subject already carried this key's
    signature; ``ref_tagged`` says whether the ref tag was moved to this commit."""

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


def _stage(observe: Observer, stage: str, run: Callable[[], _T]) -> _T:
    started = time.monotonic()
    try:
        result = run()
    except BaseException:
        observe(stage, "error", time.monotonic() - started)
        raise
    observe(stage, "ok", time.monotonic() - started)
    return result


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
) -> MirrorReport:
    """Mirror ``repo_id@commit`` to ``destination(prefix, repo_id)``, signed with ``key``."""
    dest = destination(prefix, repo_id)
    with Session(settings, transport) as session:
        shot = _stage(
            observe, "snapshot",
            lambda: snapshot(session, repo_id, commit, selection, output=None),
        )  # fmt: skip
        if shot.document.commit != commit or shot.reference is None:
            raise RemoteError(f"{repo_id}@{commit[:12]}: the Hub resolved another commit")
        source = shot.reference
        pushed = _stage(observe, "push", lambda: push(session, source, f"{dest}:{commit}"))
        subject = f"{dest}@{pushed.digest}"

        def signing() -> bool:
            with lease(str(pushed.digest)):
                return bool(sign(session, subject, key).attached)

        signed = _stage(observe, "sign", signing)
        tagged = False
        if ref is not None:

            def tagging() -> bool:
                with HubClient.from_settings(settings) as client:
                    if resolve_ref(client, repo_id, ref) != commit:
                        return False  # a newer commit owns the ref: keep only the commit tag
                push(session, source, f"{dest}:{ref_tag(ref)}")
                return True

            tagged = _stage(observe, "tag", tagging)
    present = pushed.blobs_total - pushed.blobs_sent - pushed.blobs_mounted
    fetched = set(shot.downloaded)
    received = sum(f.size for f in shot.document.files if f.path in fetched)
    return MirrorReport(
        repo_id=repo_id, commit=commit, destination=dest, digest=str(pushed.digest),
        bytes_received=received, bytes_sent=pushed.bytes_sent, blobs_sent=pushed.blobs_sent,
        blobs_mounted=pushed.blobs_mounted, blobs_present=present, signed=signed,
        ref_tagged=tagged,
    )  # fmt: skip
