#!/usr/bin/env bash
# Installs everything, then runs the end-to-end demo (scripts/demo.py) on the local Hub
# emulator and the local store; a local docker-registry is used too when installed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python scripts/demo.py "$@"
