#!/usr/bin/env python3
"""Run the local Hugging Face Hub emulator (see ``scripts/hubemu``).

Point ``huggingface_hub`` at it with ``HF_ENDPOINT=http://HOST:PORT``; ``git clone
http://HOST:PORT/REPO`` works too (with git-lfs). On first start the
fixture repositories are built into the data directory; later starts reuse them. Once the
socket is listening the process prints ``ready http://HOST:PORT`` on stdout.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hubemu.catalog import build_catalog
from hubemu.fixtures import ensure_built
from hubemu.server import EmulatorServer
from hubemu.store import Store

DEFAULT_TOKEN = "hf_emulator_token"  # noqa: S105 - a fixture token, not a secret


def default_data_dir() -> Path:
    home = os.environ.get("HUBSNAP_HOME")
    base = Path(home) if home else Path.home() / ".cache" / "hubsnap"
    return base / "hub-emulator"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--data", type=Path, default=None, help="fixture cache directory")
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="token with full access")
    args = parser.parse_args(argv)

    fixture_dir = ensure_built(args.data or default_data_dir())
    store = Store(fixture_dir)
    store.add_base(build_catalog(store.blobs))
    server = EmulatorServer((args.host, args.port), store, args.token)
    port = server.server_address[1]
    # Stop like Ctrl-C on SIGTERM, so the served git repositories are removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"ready http://{args.host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
