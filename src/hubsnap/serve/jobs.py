"""Mirror jobs: what one is, its key and id, and what a queue of them offers.

A job is ``(repo, commit, selection)``; that triple is its key, and the job id is a hash of
the key (``[0-9a-f]``, valid as an RQ job id too), so the same commit reached by a webhook,
a redelivery, a replay or the reconciler is one job. The queues (:mod:`.sqlite_queue`,
:mod:`.rq_queue`) keep that promise. ``ref`` travels with the job (the tag
to move when the commit is still that ref's head) but is not part of the key.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from hubsnap.snapshot import Selection

__all__ = ["JobSpec", "JobState", "selection_from_key", "selection_key"]


class JobState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    SKIPPED = "skipped"  # done, with nothing to mirror (no model files): final like done
    FAILED = "failed"


def selection_key(selection: Selection) -> str:
    """The selection as a stable string (part of the job key)."""
    if selection.mode == "full":
        return "full"
    return json.dumps(
        {
            "include": list(selection.include),
            "exclude": list(selection.exclude),
            "metadata_only": selection.metadata_only,
        },
        sort_keys=True,
        separators=(",", ":"),
    )


def selection_from_key(text: str) -> Selection:
    if text == "full":
        return Selection()
    data = json.loads(text)
    return Selection(
        include=tuple(data["include"]),
        exclude=tuple(data["exclude"]),
        metadata_only=bool(data["metadata_only"]),
    )


@dataclass(frozen=True)
class JobSpec:
    """One mirror job. ``ref`` is a ref name (``main``, ``v1``) or ``None``."""

    repo_id: str
    commit: str
    selection: str = "full"
    ref: str | None = None

    @property
    def key(self) -> str:
        return json.dumps([self.repo_id, self.commit, self.selection], separators=(",", ":"))

    @property
    def id(self) -> str:
        return hashlib.sha256(self.key.encode()).hexdigest()[:32]

    def to_json(self) -> dict[str, Any]:
        return {
            "repo": self.repo_id,
            "commit": self.commit,
            "selection": self.selection,
            "ref": self.ref,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobSpec:
        ref = data.get("ref")
        return cls(
            repo_id=str(data["repo"]),
            commit=str(data["commit"]),
            selection=str(data.get("selection", "full")),
            ref=str(ref) if ref is not None else None,
        )
