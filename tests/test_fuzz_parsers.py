"""Quick fuzz profile: every parser of untrusted input keeps its contract (see support/fuzz).

A few hundred inputs per parser — raw bytes, seeds mutated byte-wise and structurally — each
must be accepted into a usable value or refused with a ``HubsnapError`` of the documented exit
class (or, below the boundaries, the neutral ``ValueError`` subclass). ``scripts/fuzz.py``
runs the long profile.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.fuzz import TARGETS, Target, check, mutate

QUICK = settings(
    max_examples=300,
    deadline=5000,  # ms; a generous bound that proves "does not hang", not a speed test
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


def _inputs(target: Target) -> st.SearchStrategy[bytes]:
    mutated = st.builds(
        lambda seed, rng: mutate(seed, rng, structured=target.structured),
        st.sampled_from(target.seeds),
        st.randoms(use_true_random=False),
    )
    return st.one_of(mutated, mutated, st.binary(max_size=256), st.sampled_from(target.seeds))


@pytest.mark.parametrize("target", TARGETS.values(), ids=list(TARGETS))
def test_parser_keeps_its_contract(
    target: Target, tmp_path_factory: pytest.TempPathFactory
) -> None:
    scratch = tmp_path_factory.mktemp(f"fuzz-{target.name}")

    for data in target.hostile:
        check(target, data, scratch)

    @QUICK
    @given(data=_inputs(target))
    def fuzz(data: bytes) -> None:
        check(target, data, scratch)

    fuzz()


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_seeds_are_accepted(name: str, tmp_path: Path) -> None:
    target = TARGETS[name]
    for seed in target.seeds:
        assert check(target, seed, tmp_path) == "ok", seed


def test_hostile_inputs_named_in_the_issue(tmp_path: Path) -> None:
    deep = b"[" * 200_000
    for name in ("manifest", "index", "json", "yaml", "policy", "snapshot", "docker-config",
                 "bundle", "hub"):  # fmt: skip
        assert check(TARGETS[name], deep, tmp_path) != "ok"
    assert check(TARGETS["card"], b"---\n" + deep + b"\n---\n", tmp_path) == "ok"  # {}
    assert check(TARGETS["duration"], "²d".encode(), tmp_path) == "UsageError"
    assert check(TARGETS["integer"], b"9" * 5000, tmp_path) == "InvalidValue"
    assert check(TARGETS["card"], b"---\ndate: 2023-02-30\n---\n", tmp_path) == "ok"
