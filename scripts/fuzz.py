#!/usr/bin/env python3
"""Long fuzz profile: N inputs per parser, counted, against the contracts in tests/support/fuzz.

    .venv/bin/python scripts/fuzz.py --examples 100000 [--parser NAME]... [--seed S]

Inputs are seeds mutated byte-wise and structurally (often several times over), raw random
bytes and the hostile tokens alone. Each parser must accept an input into a usable value or
refuse it with its documented exit class; memory is capped (``--memory-mib``) so a blow-up is
a counted failure, not a dead machine. Prints, per parser, the inputs run, how many were
accepted, the refusals by class, the slowest input and the failures (first few kept in
``--failures DIR``). Exits 1 when any parser broke its contract.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from support.fuzz import TARGETS, Breach, Target, check, mutate  # noqa: E402


def _input(target: Target, rng: random.Random, corpus: list[bytes]) -> bytes:
    pick = rng.random()
    if pick < 0.1:
        return rng.randbytes(rng.randint(0, 512))
    if pick < 0.15 and target.hostile:
        return rng.choice(target.hostile)
    data = rng.choice(corpus)
    for _ in range(1 if pick < 0.8 else rng.randint(2, 5)):
        data = mutate(data, rng, structured=target.structured)
    return data


def run(target: Target, examples: int, rng: random.Random, failures: Path | None) -> bool:
    outcomes: Counter[str] = Counter()
    broken: Counter[str] = Counter()
    corpus = list(target.seeds)
    slowest = 0.0
    with tempfile.TemporaryDirectory(prefix=f"fuzz-{target.name}-") as scratch:
        for number in range(examples):
            data = _input(target, rng, corpus)
            started = time.perf_counter()
            try:
                outcome = check(target, data, Path(scratch))
            except (Breach, MemoryError, RecursionError) as e:
                key = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
                if broken[key] < 3 and failures is not None:
                    failures.mkdir(parents=True, exist_ok=True)
                    (failures / f"{target.name}-{number}.bin").write_bytes(data)
                broken[key] += 1
                outcome = "FAILED"
            slowest = max(slowest, time.perf_counter() - started)
            outcomes[outcome] += 1
            # Accepted inputs that differ from the seeds are new seeds: mutation goes deeper.
            if outcome == "ok" and len(corpus) < 256 and len(data) < 65536:
                corpus.append(data)
    refused = ", ".join(f"{name} {count}" for name, count in sorted(outcomes.items()))
    line = f"{target.name:14} {examples:>8} inputs  {refused}  slowest {slowest * 1000:.0f} ms"
    for key, count in broken.most_common(10):
        line += f"\n    FAILED x{count}: {key}"
    print(line, flush=True)
    return not broken


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000, help="inputs per parser")
    parser.add_argument("--parser", action="append", choices=sorted(TARGETS), help="repeatable")
    parser.add_argument("--seed", type=int, default=0, help="random seed (runs are repeatable)")
    parser.add_argument("--memory-mib", type=int, default=3072, help="address-space cap")
    parser.add_argument("--failures", type=Path, help="keep the first failing inputs here")
    args = parser.parse_args()
    limit = args.memory_mib * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    ok = True
    for name in args.parser or sorted(TARGETS):
        rng = random.Random(f"{args.seed}:{name}")
        ok = run(TARGETS[name], args.examples, rng, args.failures) and ok
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"peak RSS {peak} MiB; {'all contracts held' if ok else 'CONTRACT BROKEN'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
