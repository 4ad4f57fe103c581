"""The end-to-end job, on the local Hub emulator and the local store (and a registry if any).

    python scripts/demo.py [--out DIR]

Starts the Hub emulator on a free loopback port, then runs the real ``hubsnap`` commands a
release engineer would: discover models, snapshot a base model and its fine-tune into the
local store, generate a key, sign both (the fine-tune's provenance linked to the base's),
verify the chain, pull by digest into a folder and check the exported signature with the
OpenSSF reference verifier. The signed fine-tune then becomes a Git LFS commit guarded by
hubsnap's hooks: a weight committed raw is refused, the commit verifies against its signed
artifact and imports back to the same digest. When Debian's ``docker-registry`` is installed
it also starts one on loopback and pushes, signs and pulls through it. Every command is
echoed before it runs; the first failure stops the demo with its exit code.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import demo_serve
from registry_server import find_registry_binary, run_registry

ROOT = Path(__file__).resolve().parent.parent
BASE = "sentence-transformers/all-MiniLM-L6-v2"
CHILD = "hubsnap-fixtures/minilm-finetuned"


def say(text: str) -> None:
    print(f"\n== {text}", flush=True)


def hubsnap(*args: str, env: dict[str, str], capture: bool = False) -> str:
    argv = [sys.executable, "-m", "hubsnap", *args]
    print("$ hubsnap " + " ".join(shlex.quote(a) for a in args), flush=True)
    result = subprocess.run(argv, env=env, text=True, stdout=subprocess.PIPE, check=False)
    sys.stdout.write(result.stdout)
    if result.returncode != 0:
        raise SystemExit(result.returncode)
    return result.stdout.strip() if capture else ""


def git(repo: Path, *args: str, env: dict[str, str], expect: int = 0) -> None:
    """Run git (echoed); fail the demo unless it exits with ``expect``."""
    print("$ git " + " ".join(shlex.quote(a) for a in args), flush=True)
    result = subprocess.run(["git", "-C", str(repo), *args], env=env, check=False)
    if result.returncode != expect:
        raise SystemExit(f"git {args[0]} exited {result.returncode}, expected {expect}")
    if expect:
        print(f"(exit {result.returncode}: refused, as it should be)", flush=True)


def lfs_steps(child_ref: str, out: Path, env: dict[str, str]) -> None:
    say("Git LFS: the signed fine-tune as one commit, guarded by hubsnap's hooks")
    repo = out / "minilm-finetuned"
    public = str(out / "key.pub")
    hubsnap("lfs", "commit", child_ref, "--repo", str(repo), env=env)
    hubsnap("hooks", "install", "--repo", str(repo), "--key", public, env=env)
    say("a weight committed raw (the LFS filter bypassed) is refused by the pre-commit hook")
    raw = repo / "raw-weights.bin"
    raw.write_bytes(b"weights that bypassed git-lfs\n" * 64)
    blob = subprocess.run(
        ["git", "-C", str(repo), "hash-object", "-w", "--no-filters", str(raw)],
        env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    raw.unlink()
    git(repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},model.safetensors", env=env)
    identity = ["-c", "user.name=demo", "-c", "user.email=demo@example.invalid"]
    git(repo, *identity, "commit", "-m", "raw weights", env=env, expect=1)
    git(repo, "reset", "-q", "--hard", env=env)
    say("lfs verify: the commit is exactly its signed artifact; lfs import gives it back")
    hubsnap("lfs", "verify", str(repo), "--key", public, "--chain", env=env)
    imported = hubsnap("lfs", "import", str(repo), env=env, capture=True)
    if imported.rsplit("@", 1)[1] != child_ref.rsplit("@", 1)[1]:
        raise SystemExit(f"lfs import gave {imported}, not {child_ref}")


@contextlib.contextmanager
def emulator(data: Path) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "hub_emulator.py"), "--host", "127.0.0.1",
         "--port", "0", "--data", str(data)],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("ready "):
            raise SystemExit(f"the Hub emulator did not start: {line!r}")
        yield line.split(" ", 1)[1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextlib.contextmanager
def registry(workdir: Path) -> Iterator[str | None]:
    if find_registry_binary() is None:
        yield None
        return
    with run_registry(workdir / "registry") as server:
        yield server.host


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "demo-out")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    cache = Path(os.environ.get("HUBSNAP_HOME", Path.home() / ".cache" / "hubsnap"))
    env = {
        **os.environ,
        "HUBSNAP_HOME": str(out / "home"),
        "HF_HOME": str(out / "hf-home"),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "DOCKER_CONFIG": str(out / "docker"),
    }
    env.pop("HF_TOKEN", None)
    with emulator(cache / "hub-emulator") as endpoint, tempfile.TemporaryDirectory() as tmp:
        env["HF_ENDPOINT"] = endpoint
        say(f"Hub emulator at {endpoint}")

        say("discover: newest text-classification models")
        hubsnap("discover", "--task", "text-classification", "--limit", "5", env=env)

        say("snapshot: base model and its fine-tune into the local store")
        base_ref = hubsnap(
            "snapshot", BASE, "-o", str(out / "base.snapshot.yaml"), env=env, capture=True
        )
        child_ref = hubsnap(
            "snapshot", CHILD, "-o", str(out / "child.snapshot.yaml"), env=env, capture=True
        )

        say("keygen, sign (the fine-tune linked to its base), verify the chain")
        key = out / "key.pem"
        hubsnap("keygen", "-o", str(key), env=env)
        hubsnap("sign", base_ref, "--key", str(key), env=env)
        hubsnap("sign", child_ref, "--key", str(key), "--parent", base_ref, env=env)
        hubsnap("verify", child_ref, "--key", str(out / "key.pub"), "--chain", env=env)

        say("diff: what the fine-tune changed (structure here; every level in an HTML page)")
        levels = "files,config,tokenizer,card,headers"
        hubsnap("diff", base_ref, child_ref, "--levels", levels, env=env)
        hubsnap("diff", base_ref, child_ref, "--format", "html", "-o", str(out / "diff.html"),
                env=env)  # fmt: skip

        say("discover --like: rank listed models by meaning, embedded by the stored MiniLM")
        hubsnap("discover", "--like", "classify the sentiment of product reviews",
                "--task", "text-classification", "--candidates", "150", "--limit", "5",
                env=env)  # fmt: skip

        say("pull by digest into a folder; check the signature with model_signing")
        pulled = out / "pulled"
        hubsnap("pull", child_ref, "-o", str(pulled), env=env)
        hubsnap("export-signature", child_ref, "-o", str(out / "model.sig"), env=env)
        verifier = Path(sys.executable).with_name("model_signing")
        if verifier.exists():
            cmd = [str(verifier), "verify", "key", "--signature", str(out / "model.sig"),
                   "--public_key", str(out / "key.pub"), str(pulled)]  # fmt: skip
            print("$ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
            subprocess.run(cmd, check=True)

        lfs_steps(child_ref, out, env)

        with registry(Path(tmp)) as host:
            if host is None:
                say("docker-registry is not installed: registry steps skipped")
            else:
                say(f"registry at {host}: push both, sign there, verify the chain, pull")
                pushed_base = hubsnap(
                    "push", base_ref, f"{host}/models/all-minilm-l6-v2:main", env=env, capture=True
                )
                pushed = hubsnap(
                    "push", child_ref, f"{host}/models/minilm-finetuned:main", env=env, capture=True
                )
                # Signing in the registry finds the fine-tune's parent from its model card's
                # base_model: a tagged artifact in the sibling repository named after it.
                hubsnap("sign", pushed_base, "--key", str(key), env=env)
                hubsnap("sign", pushed, "--key", str(key), env=env)
                hubsnap("verify", pushed, "--key", str(out / "key.pub"), "--chain", env=env)
                hubsnap("inspect", pushed, env=env)
                hubsnap("pull", pushed, "-o", str(out / "pulled-from-registry"), env=env)
                # Remote-first: small files and safetensors headers only, by HTTP Range.
                # The signed report is attached to the fine-tune as a referrer.
                hubsnap("diff", pushed_base, pushed, "--levels", levels, "--sign", str(key),
                        env=env)  # fmt: skip

                say("serve: a commit published on the Hub is mirrored, signed and verified")
                demo_serve.run(endpoint, host, key, BASE, env=env, out=out)
    say(f"done; outputs in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
