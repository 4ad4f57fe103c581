"""Jobs exactly once: the job key and id, the embedded SQLite queue (enqueue once, retries
with backoff, hand-back after a crash, leases), and destination names."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubsnap.api.serve import destination, ref_name, ref_tag
from hubsnap.errors import NotFoundError, UsageError
from hubsnap.serve.jobs import JobSpec, JobState, selection_from_key, selection_key
from hubsnap.serve.sqlite_queue import MAX_ATTEMPTS, SqliteQueue, backoff
from hubsnap.snapshot import Selection
from support.serve import most_holders_at_once

SHA = "c" * 40


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[SqliteQueue]:
    q = SqliteQueue(tmp_path / "serve")
    yield q
    q.close()


def test_job_id_is_a_hash_of_the_key_valid_for_rq() -> None:
    spec = JobSpec("acme/tiny", SHA, "full", "main")
    assert re.fullmatch(r"[A-Za-z0-9_-]+", spec.id)
    assert spec.id == JobSpec("acme/tiny", SHA, "full", "v1").id  # the ref is not in the key
    assert spec.id != JobSpec("acme/tiny", "d" * 40).id
    assert spec.id != JobSpec("acme/tiny", SHA, selection_key(Selection(("*.json",)))).id
    assert JobSpec.from_json(spec.to_json()) == spec


def test_selection_key_round_trips() -> None:
    for selection in (Selection(), Selection(("*.json",), ("x",)), Selection(metadata_only=True)):
        assert selection_from_key(selection_key(selection)) == selection


def test_enqueue_once_whatever_the_state(queue: SqliteQueue) -> None:
    spec = JobSpec("acme/tiny", SHA)
    assert queue.enqueue(spec)
    assert not queue.enqueue(spec)  # pending
    claimed = queue.claim()
    assert claimed is not None and claimed.spec == spec and claimed.attempts == 1
    assert not queue.enqueue(spec)  # running
    queue.finish(spec)
    assert not queue.enqueue(spec)  # done
    assert queue.state(spec.id) is JobState.DONE
    assert queue.depth() == 0


def test_concurrent_enqueues_add_one_job(queue: SqliteQueue) -> None:
    spec = JobSpec("acme/tiny", SHA)
    results: list[bool] = []
    threads = [
        threading.Thread(target=lambda: results.extend(queue.enqueue(spec) for _ in range(50)))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results.count(True) == 1 and len(results) == 400


def test_failures_back_off_then_give_up(queue: SqliteQueue) -> None:
    spec = JobSpec("acme/tiny", SHA)
    queue.enqueue(spec)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        claimed = queue.claim()
        assert claimed is not None and claimed.attempts == attempt
        state = queue.fail(spec.id, claimed.attempts, "Hub answered 503")
        assert queue.claim() is None  # not before its backoff
        queue._db.execute("UPDATE jobs SET not_before = 0")
        if attempt < MAX_ATTEMPTS:
            assert state is JobState.PENDING
    assert state is JobState.FAILED
    assert queue.claim() is None
    assert queue.enqueue(spec)  # a failed key may be queued again by a new event
    assert [backoff(n) for n in (1, 2, 3)] == [5.0, 20.0, 80.0]


def test_a_permanent_failure_is_not_retried(queue: SqliteQueue) -> None:
    spec = JobSpec("acme/tiny", SHA)
    queue.enqueue(spec)
    claimed = queue.claim()
    assert claimed is not None
    assert queue.fail(spec.id, 1, "no model files", permanent=True) is JobState.FAILED


def test_a_job_left_running_by_a_dead_server_runs_again(tmp_path: Path) -> None:
    first = SqliteQueue(tmp_path / "serve")
    spec = JobSpec("acme/tiny", SHA)
    first.enqueue(spec)
    assert first.claim() is not None
    assert first.state(spec.id) is JobState.RUNNING
    first.close()  # as a kill -9 leaves it: running, never finished
    second = SqliteQueue(tmp_path / "serve")
    try:
        claimed = second.claim()
        assert claimed is not None and claimed.spec == spec and claimed.attempts == 2
    finally:
        second.close()


def test_one_server_per_queue(queue: SqliteQueue, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="another hubsnap serve"):
        SqliteQueue(tmp_path / "serve")


def test_a_lease_is_exclusive(queue: SqliteQueue) -> None:
    most = most_holders_at_once(queue.hold, "sha256:" + "1" * 64, threads=6, join_timeout=30)
    assert most == 1


def test_destination_names_bind_to_one_hub_id(queue: SqliteQueue) -> None:
    dest = destination("reg.example/mirror", "Acme/Tiny")
    assert dest == "reg.example/mirror/acme/tiny"
    assert queue.claim_name(dest, "Acme/Tiny")
    assert queue.claim_name(dest, "Acme/Tiny")
    assert destination("reg.example/mirror", "acme/tiny") == dest
    assert not queue.claim_name(dest, "acme/tiny")  # a collision is refused, not merged


@pytest.mark.parametrize(
    ("repo_id", "want"),
    [
        ("sentence-transformers/all-MiniLM-L6-v2", "sentence-transformers/all-minilm-l6-v2"),
        ("a/b___c", "a/b-c"),
        ("a/b.-c", "a/b-c"),
        ("gpt2", "gpt2"),
    ],
)
def test_destination_is_a_valid_oci_name(repo_id: str, want: str) -> None:
    assert destination("r:5000/p/", repo_id) == f"r:5000/p/{want}"


def test_destination_refuses_invalid_ids() -> None:
    with pytest.raises(NotFoundError):
        destination("r/p", "../etc")


def test_refs_and_tags() -> None:
    assert ref_name("refs/heads/main") == "main"
    assert ref_name("refs/tags/v1.0") == "v1.0"
    assert ref_name("refs/pr/3") is None
    assert ref_tag("feature/x") == "feature-x"
    assert ref_tag(".hidden") == "hidden"


def test_a_done_job_runs_again_only_for_a_ref_whose_tag_is_elsewhere(queue: SqliteQueue) -> None:
    main = JobSpec("acme/tiny", SHA, "full", "main")
    queue.enqueue(main)
    assert queue.claim() is not None
    queue.finish(main, ["main"])
    assert not queue.enqueue(main)  # tagged: nothing to do
    later = JobSpec("acme/tiny", SHA, "full", "v1")  # a ref made later on the same commit
    assert queue.enqueue(later)
    assert not queue.enqueue(later)  # pending already
    claimed = queue.claim()
    assert claimed is not None and claimed.spec == later
    queue.finish(later, ["main", "v1"])
    assert not queue.enqueue(later)
    # main moves on to another commit, then back: the old job tags it again
    newer = JobSpec("acme/tiny", "d" * 40, "full", "main")
    queue.enqueue(newer)
    assert queue.claim() is not None
    queue.finish(newer, ["main"])
    assert queue.enqueue(main)
    assert queue.state(main.id) is JobState.PENDING


def test_a_skipped_job_is_final(queue: SqliteQueue) -> None:
    spec = JobSpec("acme/tiny", SHA, "full", "main")
    queue.enqueue(spec)
    assert queue.claim() is not None
    queue.skip(spec.id, "no model files to sign")
    assert queue.state(spec.id) is JobState.SKIPPED
    assert not queue.enqueue(spec)
    assert not queue.enqueue(JobSpec("acme/tiny", SHA, "full", "v1"))
    assert queue.depth() == 0
