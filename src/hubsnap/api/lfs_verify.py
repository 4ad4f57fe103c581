"""``lfs verify``: a commit's tree is exactly the artifact its trailer names, and that
artifact's signatures verify.

The artifact is read from the local store by the digest in the commit's
``Hubsnap-Artifact`` trailer; its tree is planned as ``lfs commit`` plans it and compared
with the commit's, path by path (mode and blob id). Signatures are checked by
:func:`hubsnap.api.signing.verify` when a key or policy is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubsnap.api.lfs import TRAILER_ARTIFACT, load_artifact, plan_artifact
from hubsnap.api.session import Session
from hubsnap.digest import Digest
from hubsnap.errors import CheckFailed, HubsnapError, UsageError
from hubsnap.lfs.repo import GitRepository

__all__ = ["LFS_VERIFY_SCHEMA", "LfsVerifyResult", "lfs_verify", "split_repository_revision"]

LFS_VERIFY_SCHEMA = "hubsnap.dev/lfs-verify/v1"


@dataclass(frozen=True)
class LfsVerifyResult:
    """``differences`` are one line per path whose tree entry differs from the artifact
    (empty when the tree matches); ``signatures`` is the verification report's JSON, ``None``
    when no key or policy was given."""

    commit: str
    artifact: Digest
    differences: tuple[str, ...]
    signatures: dict[str, Any] | None

    @property
    def tree_matches(self) -> bool:
        return not self.differences

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": LFS_VERIFY_SCHEMA,
            "commit": self.commit,
            "artifact": str(self.artifact),
            "tree_matches": self.tree_matches,
            "differences": list(self.differences),
            "signatures": self.signatures,
        }


def split_repository_revision(text: str) -> tuple[Path, str]:
    """``DIR[@REV]`` → ``(DIR, REV)``; a directory whose own name holds ``@`` is taken whole."""
    path = Path(text)
    if path.is_dir() or "@" not in text:
        return path, "HEAD"
    directory, _, revision = text.rpartition("@")
    if not directory or not revision:
        raise UsageError(f"invalid repository {text!r}", hint="use DIR[@REV]")
    return Path(directory), revision


def _differences(
    tree: dict[str, tuple[str, str]], planned: dict[str, tuple[str, str]]
) -> tuple[str, ...]:
    lines = []
    for path in sorted(tree.keys() | planned.keys(), key=str.encode):
        have, want = tree.get(path), planned.get(path)
        if have == want:
            continue
        if have is None:
            lines.append(f"{path}: missing from the commit")
        elif want is None:
            lines.append(f"{path}: not in the artifact")
        elif have[0] != want[0]:
            lines.append(f"{path}: mode {have[0]}, the artifact's is {want[0]}")
        else:
            lines.append(f"{path}: blob {have[1]} differs from the artifact's {want[1]}")
    return tuple(lines)


def lfs_verify(
    session: Session,
    target: str,
    *,
    keys: Sequence[Path] = (),
    policy: Path | None = None,
    chain: bool = False,
) -> LfsVerifyResult:
    """Check the commit ``target`` (``DIR[@REV]``) against the artifact its trailer names."""
    directory, revision = split_repository_revision(target)
    repo = GitRepository(directory)
    commit = repo.commit(repo.resolve(revision))
    named = commit.trailers.get(TRAILER_ARTIFACT)
    if named is None:
        raise CheckFailed(f"commit {commit.sha} has no {TRAILER_ARTIFACT} trailer")
    try:
        digest = Digest.parse(named)
    except HubsnapError as e:
        raise CheckFailed(f"commit {commit.sha}: malformed {TRAILER_ARTIFACT} {named!r}") from e
    artifact = load_artifact(session, str(digest))
    planned = {p.path: (p.tree_file.mode, p.tree_file.blob_id()) for p in plan_artifact(artifact)}
    differences = _differences(repo.tree_entries(commit.sha), planned)
    signatures = None
    if keys or policy is not None:
        from hubsnap.api import signing  # noqa: PLC0415

        report = signing.verify(session, str(digest), keys=keys, policy=policy, chain=chain)
        outcome = signing.verdict(report)
        if outcome.error is not None:
            raise outcome.error
        signatures = report.to_json()
    return LfsVerifyResult(commit.sha, digest, differences, signatures)
