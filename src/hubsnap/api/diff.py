"""The ``diff`` verb: resolve both sides to files in the local store, then compare them
level by level into a :class:`~hubsnap.diff.report.DiffReport`.

A side is a store digest (``sha256:…``), an ``oci:PATH`` layout reference, a registry
reference (pulled into the local store once, every blob verified, through
:func:`_pull_into_store`, the one place this verb fetches) or a ``snapshot.yaml`` (its
artifact in the store; files it records only by hash are compared by hash). Two sides
naming the same manifest digest are identical: no layer is read. Thresholds are parsed
before anything is fetched, so a typo costs nothing.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from hubsnap.api.session import Session
from hubsnap.diff.card import CARD_FILE, diff_card
from hubsnap.diff.checks import Threshold, parse_threshold
from hubsnap.diff.config import diff_config, load_json_file
from hubsnap.diff.files import ArtifactFile, FilesDiff, Side, diff_files
from hubsnap.diff.report import LEVELS, DiffReport, SideInfo
from hubsnap.diff.tensor_changes import TensorsDiff
from hubsnap.diff.tokenizer import cross_check, diff_tokenizer
from hubsnap.digest import Digest
from hubsnap.errors import IntegrityError, NotFoundError, UsageError
from hubsnap.models import ANNOTATION_REVISION
from hubsnap.oci.artifact import model_files
from hubsnap.oci.layout import LayoutStore, check_store_path
from hubsnap.oci.reference import LayoutReference, RegistryReference, parse_reference
from hubsnap.snapshot import SnapshotFile, parse_card, read_artifact_reference, read_recorded_files

if TYPE_CHECKING:
    from hubsnap.diff.behaviour import BehaviourReport, TestSet

__all__ = ["DEFAULT_LEVELS", "BehaviourRequest", "diff", "parse_levels"]

#: Every level but behaviour, which needs a test set.
DEFAULT_LEVELS = tuple(level for level in LEVELS if level != "behaviour")


def parse_levels(text: str | None) -> tuple[str, ...]:
    """``--levels`` as a tuple in report order; ``None`` gives :data:`DEFAULT_LEVELS`."""
    if text is None:
        return DEFAULT_LEVELS
    asked = {part.strip() for part in text.split(",") if part.strip()}
    unknown = sorted(asked - set(LEVELS))
    if unknown or not asked:
        raise UsageError(
            f"unknown level {unknown[0]!r}" if unknown else "--levels names no level",
            hint="levels: " + ",".join(LEVELS),
        )
    return tuple(level for level in LEVELS if level in asked)


@dataclass(frozen=True)
class BehaviourRequest:
    """What the behaviour level needs: ``--testset``, and either two endpoints started
    beforehand or ``runner`` (``"transformers"``: both artifacts loaded locally). ``task``
    overrides the target's ``pipeline_tag``; ``dry_run`` checks the test set and both sides
    and sends no input."""

    testset: Path
    base_endpoint: str | None = None
    target_endpoint: str | None = None
    runner: str | None = None
    task: str | None = None
    dry_run: bool = False

    def check(self) -> None:
        endpoints = (self.base_endpoint, self.target_endpoint)
        if self.runner is not None:
            if self.runner != "transformers":
                raise UsageError(
                    f"unknown runner {self.runner!r}", hint="use --runner transformers"
                )
            if any(endpoints):
                raise UsageError("give --runner or the two endpoints, not both")
        elif not all(endpoints):
            raise UsageError(
                "the behaviour level needs --baseline-endpoint and --target-endpoint",
                hint="or --runner transformers to load both artifacts locally",
            )


@dataclass(frozen=True)
class _Resolved:
    """A side before its files are listed: the store and manifest digest it names, the
    files a snapshot records by hash, and what the pull fetched."""

    reference: str
    store: LayoutStore
    digest: Digest
    recorded: tuple[SnapshotFile, ...] = ()
    bytes_received: int | None = None


def _snapshot_document(text: str) -> Path | None:
    path = Path(text)
    if text.startswith("oci:") or path.suffix not in (".yaml", ".yml"):
        return None
    if not path.is_file():
        raise NotFoundError(f"snapshot file {text} not found")
    return path


def _pull(session: Session, reference: str, output: Path | None = None) -> tuple[Digest, int]:
    """The one call to the pull verb: a registry artifact into the local store, or an
    artifact's files into ``output`` (verified either way); its digest and the bytes that
    came over the wire."""
    from hubsnap.api.transfer import pull  # noqa: PLC0415 (only registry sides need it)

    result = pull(session, reference, output=output, allow_tag=True)
    return result.digest, result.bytes_fetched


def _resolve(session: Session, text: str) -> _Resolved:
    document = _snapshot_document(text)
    if document is not None:
        ref = parse_reference(read_artifact_reference(document))
        assert isinstance(ref, LayoutReference) and ref.digest is not None
        recorded = read_recorded_files(document)
        return _Resolved(text, LayoutStore(check_store_path(ref.path)), ref.digest, recorded)
    ref = parse_reference(text, store=session.settings.store)
    if isinstance(ref, RegistryReference):
        digest, received = _pull(session, text)
        store = LayoutStore(check_store_path(session.settings.store))
        return _Resolved(text, store, digest, bytes_received=received)
    store = LayoutStore(check_store_path(ref.path)).require()
    digest = ref.digest if ref.digest is not None else store.resolve(tag=ref.tag).digest
    return _Resolved(text, store, digest)


def _side(resolved: _Resolved) -> Side:
    store = resolved.store.require()
    _, manifest = store.read_manifest(resolved.digest)
    files: dict[str, ArtifactFile] = {}
    git_ids = {f.path: f.git_blob_id or None for f in resolved.recorded}
    for path, layer in model_files(manifest):
        if not store.has_blob(layer.digest, layer.size):
            raise NotFoundError(
                f"{path} ({layer.digest}) of {resolved.reference} is missing from {store.root}"
            )
        local = store.blob_path(layer.digest)
        if local.is_symlink():
            raise IntegrityError(f"blob {layer.digest} ({path}) in {store.root} is a symlink")
        files[path] = ArtifactFile(path, str(layer.digest), layer.size, local, git_ids.get(path))
    for f in resolved.recorded:
        digest = f"sha256:{f.sha256}" if f.sha256 else None
        files.setdefault(f.path, ArtifactFile(f.path, digest, f.size, None, f.git_blob_id or None))
    return Side(resolved.reference, resolved.digest, files)


def _received(*sides: _Resolved) -> int | None:
    counts = [s.bytes_received for s in sides if s.bytes_received is not None]
    return sum(counts) if counts else None


def diff(
    session: Session,
    base: str,
    target: str,
    *,
    levels: Sequence[str] = DEFAULT_LEVELS,
    fail_on: Sequence[str] = (),
    behaviour: BehaviourRequest | None = None,
) -> DiffReport:
    """Compare ``base`` and ``target`` at ``levels``, judging every ``fail_on`` threshold.

    Raises :class:`~hubsnap.errors.UsageError` for a bad threshold or level (before any
    fetch) and :class:`~hubsnap.errors.IntegrityError` (exit 6) for a malformed file inside
    either artifact, naming it. Breached thresholds are in the report's ``checks``: the
    caller decides what they mean (the CLI exits 1).
    """
    thresholds: tuple[Threshold, ...] = tuple(parse_threshold(t) for t in fail_on)
    chosen = tuple(levels)
    if behaviour is not None:
        behaviour.check()
        chosen = tuple(level for level in LEVELS if level in (*chosen, "behaviour"))
    elif "behaviour" in chosen:
        raise UsageError("the behaviour level needs --testset", hint="a JSON array or JSONL file")
    testset = _load_testset(behaviour)  # checked before anything is fetched
    if behaviour is None:
        twins = _registry_twins(session, base, target, chosen)
        if twins is not None:
            return twins.judged(thresholds)
    before, after = _resolve(session, base), _resolve(session, target)
    info = (SideInfo(base, str(before.digest)), SideInfo(target, str(after.digest)))
    a = _side(before)
    if before.digest == after.digest and not before.recorded and not after.recorded:
        same = _identical(a, info, chosen, _received(before, after))
        if behaviour is not None:
            same = replace(
                same, behaviour=_behaviour(session, behaviour, testset, (before, a), (after, a))
            )
        return same.judged(thresholds)
    b = _side(after)
    report = DiffReport(
        base=info[0],
        target=info[1],
        levels=chosen,
        files=diff_files(a, b) if "files" in chosen else None,
        config=diff_config(a, b) if "config" in chosen else None,
        tokenizer=diff_tokenizer(a, b) if "tokenizer" in chosen else None,
        special_ids=(cross_check(a, "base") + cross_check(b, "target"))
        if "tokenizer" in chosen
        else None,
        card=diff_card(a, b) if "card" in chosen else None,
        tensors=_tensors(a, b, chosen),
        behaviour=(
            None
            if behaviour is None
            else _behaviour(session, behaviour, testset, (before, a), (after, b))
        ),
        bytes_received=_received(before, after),
    )
    return report.judged(thresholds)


def _registry_twins(
    session: Session, base: str, target: str, levels: tuple[str, ...]
) -> DiffReport | None:
    """When a registry reference names the same manifest as the other side, the identical
    report, from manifests alone: no layer is pulled. ``None`` when that is not the case."""
    if _snapshot_document(base) is not None or _snapshot_document(target) is not None:
        return None
    refs = (session.parse(base), session.parse(target))
    if not any(isinstance(ref, RegistryReference) for ref in refs):
        return None  # local sides: the ordinary path is as cheap
    found = []
    for ref in refs:
        repository, digest, _ = session.resolve(ref)
        found.append((ref, repository, digest))
    if found[0][2] != found[1][2]:
        return None
    digest = found[0][2]
    info = (SideInfo(base, str(digest)), SideInfo(target, str(digest)))
    for ref, _, _ in found:
        if isinstance(ref, LayoutReference):
            store = LayoutStore(check_store_path(ref.path))
            return _identical(_side(_Resolved(base, store, digest)), info, levels, 0)
    verified = session.manifest(found[0][1], digest)
    files = {
        path: ArtifactFile(path, str(layer.digest), layer.size, None)
        for path, layer in model_files(verified.manifest)
    }
    received = len(verified.data) * 2
    return _identical(Side(base, digest, files), info, levels, received)


def _load_testset(request: BehaviourRequest | None) -> TestSet | None:
    if request is None:
        return None
    from hubsnap.diff.behaviour import load_testset  # noqa: PLC0415 (scipy loads only here)

    return load_testset(request.testset)


def _revision(resolved: _Resolved) -> str | None:
    _, manifest = resolved.store.read_manifest(resolved.digest)
    return manifest.annotations.get(ANNOTATION_REVISION)


def _pipeline_tag(*sides: Side) -> str | None:
    for side in sides:
        card = side.read_small(CARD_FILE)
        tag = parse_card(card).get("pipeline_tag") if card is not None else None
        if isinstance(tag, str) and tag:
            return tag
    return None


def _behaviour(
    session: Session,
    request: BehaviourRequest,
    testset: TestSet | None,
    base: tuple[_Resolved, Side],
    target: tuple[_Resolved, Side],
) -> BehaviourReport:
    """Both sides on the test set: through their endpoints, or loaded from folders the
    artifacts are written to (removed afterwards)."""
    from hubsnap.diff.behaviour import (  # noqa: PLC0415
        TransformersRunner,
        endpoint,
        run_behaviour,
        task_for,
    )

    assert testset is not None
    task = task_for(_pipeline_tag(target[1], base[1]), request.task)
    if request.runner is None:
        assert request.base_endpoint is not None and request.target_endpoint is not None
        predictors = (
            endpoint(request.base_endpoint, role="baseline", revision=_revision(base[0])),
            endpoint(request.target_endpoint, role="target", revision=_revision(target[0])),
        )
        return run_behaviour(
            testset,
            *predictors,
            task=task,
            timeout=session.settings.timeout,
            dry_run=request.dry_run,
        )
    with tempfile.TemporaryDirectory(prefix="hubsnap-diff-") as scratch:
        runners = []
        for role, (resolved, _) in (("baseline", base), ("target", target)):
            folder = Path(scratch) / role
            source = LayoutReference(resolved.store.root, None, resolved.digest)
            _pull(session, str(source), output=folder)
            runners.append(TransformersRunner(folder, role=role))
        return run_behaviour(
            testset, runners[0], runners[1], task=task, timeout=session.settings.timeout,
            dry_run=request.dry_run,
        )  # fmt: skip


def _tensors(a: Side, b: Side, levels: tuple[str, ...]) -> TensorsDiff | None:
    if "headers" not in levels and "tensors" not in levels:
        return None
    # numpy loads here, not with this module: identical sides never need it.
    from hubsnap.diff.quant import compare_dequantised, is_compressed_tensors  # noqa: PLC0415
    from hubsnap.diff.tensors import diff_tensors, side_tensors  # noqa: PLC0415

    before, after = side_tensors(a), side_tensors(b)
    if before is None or after is None:
        return None  # some weights are known only by hash: the files level compares them
    found = diff_tensors(before, after, values="tensors" in levels)
    if "tensors" not in levels or not found.reshaped:
        return found
    quantised = (
        is_compressed_tensors(load_json_file(a, "config.json")),
        is_compressed_tensors(load_json_file(b, "config.json")),
    )
    return replace(found, dequantised=compare_dequantised(before, after, found.reshaped, quantised))


def _identical(
    side: Side, info: tuple[SideInfo, SideInfo], levels: tuple[str, ...], received: int | None
) -> DiffReport:
    """Both sides name one manifest: nothing differs, known without comparing a byte. The
    files are counted from the manifest; the special-id cross-check, which judges each side
    on its own, still reads the artifact's small config files when they are here (else it
    is not made: ``special_ids`` is null)."""
    values = "tensors" in levels
    local = all(f.local is not None for f in side.files.values() if f.path.endswith(".json"))
    checked = cross_check(side, "base") if "tokenizer" in levels and local else None
    return DiffReport(
        base=info[0],
        target=info[1],
        levels=levels,
        identical=True,
        files=FilesDiff((), (), (), len(side.files)) if "files" in levels else None,
        special_ids=None if checked is None else checked + cross_check(side, "target"),
        tensors=(
            TensorsDiff((), (), (), () if values else None, None)
            if "headers" in levels or values
            else None
        ),
        bytes_received=received,
    )
