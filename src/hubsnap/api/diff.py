"""The ``diff`` verb: find both sides (:mod:`hubsnap.api.diff_sides`), then compare them
level by level into a :class:`~hubsnap.diff.report.DiffReport`.

A side is a store digest (``sha256:…``), an ``oci:PATH`` layout reference, a registry
reference or a ``snapshot.yaml``. A registry artifact's weights are pulled into the local
store (once, every blob verified) only when the ``tensors`` level or a local runner needs
them; the other levels read it remote-first: small files and safetensors headers only, the
bytes received reported. Two sides naming the same manifest digest are identical: no layer
is read. Thresholds are parsed before anything is fetched, so a typo costs nothing.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from hubsnap.api.diff_sides import Found, Resolved, find, pull_into, resolve, side_of
from hubsnap.api.session import Session
from hubsnap.diff.card import CARD_FILE, diff_card
from hubsnap.diff.checks import Threshold, parse_threshold
from hubsnap.diff.config import diff_config, load_json_file
from hubsnap.diff.files import ArtifactFile, FilesDiff, Side, diff_files
from hubsnap.diff.report import LEVELS, DiffReport, SideInfo
from hubsnap.diff.tensor_changes import TensorsDiff
from hubsnap.diff.tokenizer import cross_check, diff_tokenizer
from hubsnap.errors import UsageError
from hubsnap.oci.artifact import model_files
from hubsnap.oci.reference import LayoutReference
from hubsnap.snapshot import parse_card

if TYPE_CHECKING:
    from hubsnap.diff.behaviour import BehaviourReport, TestSet
    from hubsnap.signing.keys import PrivateKey

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


def _received(*sides: Resolved) -> int | None:
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
    sign_key: Path | None = None,
) -> DiffReport:
    """Compare ``base`` and ``target`` at ``levels``, judging every ``fail_on`` threshold;
    with ``sign_key``, attach the report, signed, to the target (its referrer is the
    report's ``signature``; an encrypted key's password comes from ``HUBSNAP_KEY_PASSWORD``).

    Raises :class:`~hubsnap.errors.UsageError` for a bad threshold or level, and the key's
    error for a missing (3) or unusable (2) key, before any fetch; and
    :class:`~hubsnap.errors.IntegrityError` (exit 6) for a malformed file inside either
    artifact, naming it. Breached thresholds are in the report's ``checks``: the caller
    decides what they mean (the CLI exits 1); a signed report is attached either way.
    """
    thresholds: tuple[Threshold, ...] = tuple(parse_threshold(t) for t in fail_on)
    chosen = tuple(levels)
    if behaviour is not None:
        behaviour.check()
        chosen = tuple(level for level in LEVELS if level in (*chosen, "behaviour"))
    elif "behaviour" in chosen:
        raise UsageError("the behaviour level needs --testset", hint="a JSON array or JSONL file")
    key = _signing_key(sign_key)  # before anything is read
    testset = _load_testset(behaviour)  # checked before anything is fetched
    found = (find(session, base), find(session, target))
    report = _compare(session, found, chosen, behaviour, testset).judged(thresholds)
    if key is None:
        return report
    from hubsnap.api.diff_sign import attach_report  # noqa: PLC0415

    referrer = attach_report(session, found[1], report, key)
    return replace(report, signature=str(referrer))


def _signing_key(path: Path | None) -> PrivateKey | None:
    if path is None:
        return None
    # The signing stack (cryptography) loads only for --sign.
    from hubsnap.api.diff_sign import load_report_key  # noqa: PLC0415

    return load_report_key(path)


def _compare(
    session: Session,
    found: tuple[Found, Found],
    chosen: tuple[str, ...],
    behaviour: BehaviourRequest | None,
    testset: TestSet | None,
) -> DiffReport:
    base, target = found[0].reference, found[1].reference
    if behaviour is None:
        twins = _registry_twins(session, found, chosen)
        if twins is not None:
            return twins
    # A registry artifact's weights are pulled only for what reads them: tensor values and
    # a local runner. Every other level reads it remote-first.
    weights = "tensors" in chosen or (behaviour is not None and behaviour.runner is not None)
    before, after = (resolve(session, f, weights=weights) for f in found)
    info = (SideInfo(base, str(before.digest)), SideInfo(target, str(after.digest)))
    a = side_of(before)
    if before.digest == after.digest and not before.recorded and not after.recorded:
        same = _identical(a, info, chosen, None)
        if behaviour is not None:
            same = replace(
                same, behaviour=_behaviour(session, behaviour, testset, (before, a), (after, a))
            )
        return replace(same, bytes_received=_received(before, after))
    b = side_of(after)
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
    )
    # Counted once every level has read what it needed.
    return replace(report, bytes_received=_received(before, after))


def _registry_twins(
    session: Session, found: tuple[Found, Found], levels: tuple[str, ...]
) -> DiffReport | None:
    """When a registry reference names the same manifest as the other side, the identical
    report, from manifests alone: no layer is read. ``None`` when that is not the case."""
    if any(f.document is not None for f in found) or not any(f.remote for f in found):
        return None  # local sides: the ordinary path is as cheap
    if found[0].digest != found[1].digest:
        return None
    digest = found[0].digest
    info = (SideInfo(found[0].reference, str(digest)), SideInfo(found[1].reference, str(digest)))
    received = sum(
        session.manifest(f.repository, digest).size for f in found if f.repository is not None
    )
    for f in found:
        if f.store is not None:
            local = resolve(session, f, weights=False)
            return _identical(side_of(local), info, levels, received)
    assert found[0].repository is not None
    verified = session.manifest(found[0].repository, digest)
    files = {
        path: ArtifactFile(path, str(layer.digest), layer.size, None)
        for path, layer in model_files(verified.manifest)
    }
    return _identical(Side(found[0].reference, digest, files), info, levels, received)


def _load_testset(request: BehaviourRequest | None) -> TestSet | None:
    if request is None:
        return None
    from hubsnap.diff.behaviour import load_testset  # noqa: PLC0415 (scipy loads only here)

    return load_testset(request.testset)


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
    base: tuple[Resolved, Side],
    target: tuple[Resolved, Side],
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
            endpoint(request.base_endpoint, role="baseline", revision=base[0].revision),
            endpoint(request.target_endpoint, role="target", revision=target[0].revision),
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
            assert resolved.store is not None  # a runner's sides are pulled
            source = LayoutReference(resolved.store.root, None, resolved.digest)
            pull_into(session, str(source), output=folder)
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
