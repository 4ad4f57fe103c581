"""The ``diff`` section of ``scripts/bench.py``: tensor values against the naive script.

For each of F32 and BF16, three 1 GiB safetensors files of 64 tensors (16 MiB each): a base,
a target with 8 tensors perturbed (every element, noise 1e-3 of the values' scale) and a twin
holding the base's tensors under other ``__metadata__`` (another digest, every tensor
byte-identical). Each goes into the benchmark store as a one-weight artifact; then, warm:

- ``hubsnap diff BASE TARGET --levels tensors --json`` against the script a user would write:
  load both files whole and compute max and mean absolute difference, relative L2 and cosine
  per tensor with numpy (target: within 1.0x), with hubsnap's peak anonymous RSS (target:
  128 MiB; the naive script holds both files). For F32 the script loads with
  ``safetensors.numpy.load_file``. numpy has no bfloat16 and that loader refuses BF16, so for
  BF16 there are two scripts: the numpy one reads the file itself (header, then the data
  shifted into float32: the peer for the target) and the common one loads with
  ``safetensors.torch.load_file`` then ``.float().numpy()`` (reported);
- the API's ``diff(BASE, TWIN, levels=("tensors",))`` timed inside one process (start-up
  excluded): 1 GiB of byte-identical tensors, its rate (target: at least 2 GB/s);
- ``hubsnap diff BASE BASE``: identical digests, beyond ``hubsnap --help`` (target: 0.5 s);
- (in ``bench.py``, which owns the registry) the F32 base and target pushed to the registry and
  diffed there structure-only (files, config, tokenizer, card, headers) from an empty store:
  the bytes received, as the report counts them (target: under 2 MiB for 2 GiB of weights).
"""

from __future__ import annotations

import importlib.util
import json
import os
import resource
import struct
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

MIB = 1 << 20
TENSORS = 64
PERTURBED = 8
TENSOR_BYTES = 16 * MIB
NOISE = 1e-3
#: numpy dtype and element size of each benchmarked safetensors dtype.
DTYPES = {"F32": 4, "BF16": 2}

#: Run a command (argv, sampled?) to completion: wall seconds and peak RssAnon MiB.
Run = Callable[[list[str], bool], tuple[float, float | None]]
#: Store a directory as an artifact: (label, slug, directory) -> manifest digest.
Store = Callable[[str, str, Path], str]
Add = Callable[[str, float, float | None, str], object]
Ratio = Callable[[str, float, str], None]

NAIVE = r"""
import json, struct, sys
import numpy as np
loader, first, second = sys.argv[1:4]
if loader == "torch":  # numpy has no bfloat16: the torch loader, then float32 arrays
    from safetensors.torch import load_file
    load = lambda path: {k: v.float().numpy() for k, v in load_file(path).items()}
elif loader == "bf16-numpy":  # the header by hand, BF16 shifted into the high half of F32
    def load(path):
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
            data = np.frombuffer(f.read(), dtype="<u2")
        out = {}
        for name, info in header.items():
            if name != "__metadata__":
                start, end = (o // 2 for o in info["data_offsets"])
                out[name] = (data[start:end].astype(np.uint32) << 16).view(np.float32)
        return out
else:
    from safetensors.numpy import load_file as load
a, b = load(first), load(second)
for name in sorted(a):
    x, y = a[name].ravel(), b[name].ravel()
    d = y - x
    ad = np.abs(d)
    max_abs, mean_abs = float(ad.max()), float(ad.mean())
    rel_l2 = float(np.linalg.norm(d) / np.linalg.norm(x))
    cosine = float(np.dot(x, y) / (np.linalg.norm(x) * np.linalg.norm(y)))
    print(name, max_abs, mean_abs, rel_l2, cosine)
"""


TIMED = r"""
import sys, time
from hubsnap.api.diff import diff
from hubsnap.api.session import Session
from hubsnap.config import Settings
import hubsnap.diff.quant, hubsnap.diff.tensors  # loaded by the first diff: start-up, not timed
base, twin, out = sys.argv[1:4]
with Session(Settings.from_env()) as session:
    diff(session, base, base, levels=("tensors",))  # loads the layout code: start-up too
    start, cpu = time.perf_counter(), time.process_time()
    report = diff(session, base, twin, levels=("tensors",))
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
assert report.tensors is not None and report.tensors.changed == ()
with open(out, "w") as f:
    f.write(f"{seconds} {cpu} {report.tensors.bytes_compared}")
"""


def _tensor(index: int, dtype: str, perturbed: bool) -> bytes:
    """Tensor ``index``'s bytes: seeded values, with seeded noise when ``perturbed``."""
    count = TENSOR_BYTES // DTYPES[dtype]
    values = np.random.default_rng(index).standard_normal(count, dtype=np.float32)
    if perturbed:
        noise = np.random.default_rng(10_000 + index).standard_normal(count, dtype=np.float32)
        values += np.float32(NOISE) * noise
    if dtype == "BF16":  # round to nearest even, keep the high half
        bits = values.view(np.uint32)
        bits += np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))
        return (bits >> np.uint32(16)).astype("<u2").tobytes()
    return values.astype("<f4").tobytes()


def _write(path: Path, dtype: str, perturb: set[int], note: str) -> Path:
    size = TENSOR_BYTES * TENSORS
    count = TENSOR_BYTES // DTYPES[dtype]
    header: dict[str, object] = {"__metadata__": {"note": note}}
    for i in range(TENSORS):
        offsets = [i * TENSOR_BYTES, (i + 1) * TENSOR_BYTES]
        header[f"layers.{i:02d}.weight"] = {
            "dtype": dtype, "shape": [count // 1024, 1024], "data_offsets": offsets,
        }  # fmt: skip
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    expected = 8 + len(raw) + size
    if path.exists() and path.stat().st_size == expected:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with partial.open("wb") as out:
        out.write(struct.pack("<Q", len(raw)) + raw)
        for i in range(TENSORS):
            out.write(_tensor(i, dtype, i in perturb))
    partial.replace(path)
    return path


def weight_files(work: Path, dtype: str) -> dict[str, Path]:
    """The base, target (8 of 64 tensors perturbed) and byte-identical twin of ``dtype``."""
    root = work / "diff-weights"
    step = TENSORS // PERTURBED
    return {
        "base": _write(root / f"{dtype}-base.safetensors", dtype, set(), "base"),
        "target": _write(
            root / f"{dtype}-target.safetensors", dtype, set(range(0, TENSORS, step)), "target"
        ),
        "twin": _write(root / f"{dtype}-twin.safetensors", dtype, set(), "twin"),
    }


def _models(work: Path, dtype: str, store: Store) -> Iterator[tuple[str, str, Path]]:
    for role, path in weight_files(work, dtype).items():
        directory = work / "models" / f"diff-{dtype}-{role}"
        directory.mkdir(parents=True, exist_ok=True)
        link = directory / "model.safetensors"
        if link.exists():
            link.unlink()
        os.link(path, link)
        yield role, store(f"diff {dtype} {role}", f"diff-{dtype.lower()}-{role}", directory), path


def section_diff(  # noqa: PLR0917 (the callbacks bench.py hands every section module)
    work: Path, rounds: int, run: Run, store: Store, add: Add, ratio: Ratio
) -> dict[str, str]:
    """Run the section; return the F32 base and target digests (``base``, ``target``)."""
    f32: dict[str, str] = {}
    hubsnap = [sys.executable, "-m", "hubsnap"]
    startup, _, startup_cpu = _best(rounds, run, [*hubsnap, "--help"])
    add("hubsnap --help (start-up)", startup, None, _note(rounds, startup_cpu))
    for dtype in DTYPES:
        models = {role: (digest, path) for role, digest, path in _models(work, dtype, store)}
        base, target, twin = (models[r][0] for r in ("base", "target", "twin"))
        if dtype == "F32":
            f32 = {"base": base, "target": target}
        _warm([path for _, path in models.values()])
        same, _, same_cpu = _best(rounds, run, [*hubsnap, "diff", base, base, "--json"])
        add(f"diff {dtype}: identical digests", same, None, _note(rounds, same_cpu))
        if dtype == "F32":
            ratio("diff: identical digests, seconds beyond start-up", same - startup, "<= 0.5")
            ratio("diff: identical digests, CPU seconds beyond start-up", same_cpu - startup_cpu,
                  "report")  # fmt: skip
        argv = [*hubsnap, "diff", base, target, "--levels", "tensors", "--json"]
        ours, rss, ours_cpu = _best(rounds, run, argv, sample=True)
        add(f"diff {dtype}: 8 of 64 tensors changed", ours, rss, _note(rounds, ours_cpu))
        paths = [str(models[r][1]) for r in ("base", "target")]
        loaders = {"F32": ["numpy"], "BF16": ["bf16-numpy"]}[dtype]
        if dtype == "BF16" and importlib.util.find_spec("torch") is not None:
            loaders.append("torch")
        for loader in loaders:
            naive, naive_rss, naive_cpu = _best(
                rounds, run, [sys.executable, "-c", NAIVE, loader, *paths], sample=True
            )
            add(f"naive script {dtype} ({loader} loader)", naive, naive_rss,
                _note(rounds, naive_cpu))  # fmt: skip
            target_ratio = "<= 1.0" if loader == loaders[0] else "report"
            ratio(f"diff 1 GiB {dtype}, 8 of 64 changed: hubsnap / naive ({loader})",
                  ours / naive, target_ratio)  # fmt: skip
            ratio(f"diff 1 GiB {dtype}, 8 of 64 changed: CPU time, hubsnap / naive ({loader})",
                  ours_cpu / naive_cpu, "report")  # fmt: skip
            if naive_rss is not None:
                ratio(f"diff 1 GiB {dtype}: naive ({loader}) peak RssAnon MiB", naive_rss,
                      "report")  # fmt: skip
        assert rss is not None
        ratio(f"diff 1 GiB {dtype}: hubsnap peak RssAnon MiB", rss, "<= 128")
        timed = [_timed(run, base, twin, work) for _ in range(rounds)]
        equal, equal_cpu = min(t[0] for t in timed), min(t[1] for t in timed)
        add(f"diff {dtype}: 64 byte-identical tensors, in process", equal, None,
            _note(rounds, equal_cpu))  # fmt: skip
        size = TENSORS * TENSOR_BYTES
        ratio(f"diff 1 GiB {dtype} byte-identical: GB/s", size / equal / 1e9, ">= 2")
        ratio(f"diff 1 GiB {dtype} byte-identical: GB/s of CPU time", size / equal_cpu / 1e9,
              "report")  # fmt: skip
    return f32


def _note(rounds: int, cpu: float) -> str:
    load = os.getloadavg()[0]
    return f"best of {rounds}; CPU {cpu:.3f} s; load average {load:.1f}"


def _timed(run: Run, base: str, twin: str, work: Path) -> tuple[float, float]:
    """Wall and CPU seconds the API's diff of ``base`` and its byte-identical twin took in
    its process."""
    result = work / "diff-timed.txt"
    run([sys.executable, "-c", TIMED, base, twin, str(result)], False)
    seconds, cpu, compared = result.read_text().split()
    result.unlink()
    assert int(compared) == TENSORS * TENSOR_BYTES, compared
    return float(seconds), float(cpu)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _best(
    rounds: int, run: Run, argv: list[str], *, sample: bool = False
) -> tuple[float, float | None, float]:
    """The fastest of ``rounds`` runs, the largest RSS seen, the least CPU time (user +
    system of the child: unlike wall time, hardly stretched by other work on the machine)."""
    times, peaks, cpus = [], [], []
    for _ in range(rounds):
        before = _children_cpu()
        seconds, rss = run(argv, sample)
        cpus.append(_children_cpu() - before)
        times.append(seconds)
        if rss is not None:
            peaks.append(rss)
    return min(times), (max(peaks) if peaks else None), min(cpus)


def _warm(paths: list[Path]) -> None:
    for path in paths:
        with path.open("rb") as source:
            while source.read(16 * MIB):
                pass
