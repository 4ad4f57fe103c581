"""hubsnap's speed and memory targets, measured against peers in the same run.

    python scripts/bench.py [--sections hash,push,pull,sign] [--sizes 1] [--workdir DIR]

Every section times hubsnap and the peer tools on the same files, on this machine, in this
run, and prints the ratio next to the target; nothing here is asserted in the test suite
because timings on shared machines are noisy. Peak anonymous memory (``RssAnon``) of the
hubsnap process is sampled from ``/proc`` while it runs. Results are recorded in the README.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

GIB = 1 << 30
MIB = 1 << 20
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Row:
    """One measured line: what ran, how long, its peak anonymous RSS when sampled."""

    section: str
    name: str
    seconds: float
    rss_anon_mib: float | None = None
    note: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    ratios: list[tuple[str, float, str]] = field(default_factory=list)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        rss = f"  rss_anon {row.rss_anon_mib:7.1f} MiB" if row.rss_anon_mib is not None else ""
        print(f"  {row.section:6} {row.name:44} {row.seconds:8.3f} s{rss}  {row.note}", flush=True)
        return row

    def ratio(self, label: str, ours: Row, peer: Row, target: str) -> None:
        value = ours.seconds / peer.seconds if peer.seconds else float("inf")
        self.ratios.append((label, value, target))


def _rss_anon_kib(pid: int) -> int:
    try:
        with Path(f"/proc/{pid}/status").open() as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def run(
    argv: Sequence[str], *, env: dict[str, str] | None = None, sample: bool = False
) -> tuple[float, float | None]:
    """Run a command to completion; return wall seconds and peak RssAnon (MiB) if sampled."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    peak = 0
    stop = threading.Event()

    def sampler() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _rss_anon_kib(proc.pid))
            stop.wait(0.005)

    thread = threading.Thread(target=sampler, daemon=True) if sample else None
    if thread:
        thread.start()
    _, err = proc.communicate()
    elapsed = time.perf_counter() - start
    stop.set()
    if thread:
        thread.join()
    if proc.returncode != 0:
        raise SystemExit(f"benchmark step failed: {' '.join(argv)}\n{err.decode(errors='replace')}")
    return elapsed, (peak / 1024 if sample else None)


def best_of(n: int, fn: Callable[[], tuple[float, float | None]]) -> tuple[float, float | None]:
    """The fastest of ``n`` runs (the least disturbed by other work); the largest RSS seen."""
    times, peaks = [], []
    for _ in range(n):
        seconds, rss = fn()
        times.append(seconds)
        if rss is not None:
            peaks.append(rss)
    return min(times), (max(peaks) if peaks else None)


def make_file(path: Path, size: int) -> Path:
    if path.exists() and path.stat().st_size == size:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        remaining = size
        block = os.urandom(4 * MIB)
        while remaining > 0:
            # Vary each block cheaply so nothing can deduplicate or compress it.
            chunk = block[: min(remaining, len(block))]
            out.write(remaining.to_bytes(8, "little") + chunk[8:])
            remaining -= len(chunk)
    return path


HASH_SNIPPET = """
import sys
from pathlib import Path
from hubsnap.digest import hash_file
for name in sys.argv[1:]:
    hash_file(Path(name))
"""


def section_hash(report: Report, work: Path, sizes: list[int], repeat: int) -> None:
    """Snapshot hashing: SHA-256 and BLAKE3 in one read pass vs openssl, sha256sum, b3sum."""
    python = sys.executable
    cases: list[tuple[str, list[Path]]] = []
    for gib in sizes:
        cases.append((f"{gib} GiB file", [make_file(work / f"single-{gib}g.bin", gib * GIB)]))
    shards = [make_file(work / f"shard-{i}-of-4.bin", GIB // 4) for i in range(4)]
    cases.append(("4-shard model (4 x 256 MiB)", shards))
    for label, files in cases:
        names = [str(f) for f in files]
        # Every tool reads the files warm from the page cache, so the comparison is of CPU
        # work, not of the disk.
        subprocess.run(["cat", *names], stdout=subprocess.DEVNULL, check=True)
        ours = report.add(
            Row(
                "hash",
                f"hubsnap sha256+blake3, {label}",
                *best_of(
                    repeat,
                    lambda names=names: run([python, "-c", HASH_SNIPPET, *names], sample=True),
                ),
            )
        )
        openssl = report.add(
            Row(
                "hash",
                f"openssl dgst -sha256, {label}",
                best_of(repeat, lambda names=names: run(["openssl", "dgst", "-sha256", *names]))[0],
            )
        )
        report.ratio(f"hash {label}: hubsnap / openssl sha256", ours, openssl, "<= 1.15")
        if shutil.which("sha256sum"):
            peer = report.add(
                Row(
                    "hash",
                    f"sha256sum, {label}",
                    best_of(repeat, lambda names=names: run(["sha256sum", *names]))[0],
                )
            )
            report.ratio(f"hash {label}: hubsnap / sha256sum", ours, peer, "report")
        if shutil.which("b3sum"):
            peer = report.add(
                Row(
                    "hash",
                    f"b3sum, {label}",
                    best_of(repeat, lambda names=names: run(["b3sum", *names]))[0],
                )
            )
            report.ratio(f"hash {label}: hubsnap / b3sum", ours, peer, "report")
        cat = report.add(
            Row(
                "hash",
                f"cat > /dev/null (read once), {label}",
                best_of(repeat, lambda names=names: run(["cat", *names]))[0],
            )
        )
        report.ratio(f"hash {label}: hubsnap / reading once", ours, cat, "report")
        assert ours.rss_anon_mib is not None
        report.ratios.append((f"hash {label}: peak RssAnon MiB", ours.rss_anon_mib, "< 64"))


SECTIONS: dict[str, Callable[[Report, Path, list[int], int], None]] = {"hash": section_hash}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default=",".join(SECTIONS))
    parser.add_argument("--sizes", default="1", help="single-file sizes in GiB, comma separated")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    work = args.workdir or Path(tempfile.gettempdir()) / "hubsnap-bench"
    work.mkdir(parents=True, exist_ok=True)
    report = Report()
    print(f"hubsnap benchmark on {os.cpu_count()} cores, files in {work}")
    for name in args.sections.split(","):
        if name not in SECTIONS:
            parser.error(f"unknown section {name!r}; known: {', '.join(SECTIONS)}")
        print(f"[{name}]")
        SECTIONS[name](report, work, sizes, args.repeat)
    print("\nratios (ours / peer; lower is better)")
    for label, value, target in report.ratios:
        print(f"  {label:60} {value:8.2f}   target {target}")
    if args.json:
        print(
            json.dumps(
                {"rows": [r.__dict__ for r in report.rows], "ratios": report.ratios}, indent=2
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
