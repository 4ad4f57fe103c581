#!/usr/bin/env bash
# Installs the test dependencies, then runs the linters, the type checker and every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check src tests scripts
.venv/bin/ruff format --check src tests scripts
.venv/bin/mypy
.venv/bin/pytest "$@"
# The same CLI and Hub tests on the lowest version of every dependency range.
bash scripts/lowest.sh
