#!/usr/bin/env bash
# Sets everything up on a fresh Debian machine with Python 3.11: a virtual environment with
# the pinned requirements (.venv), and MNIST prepared in the nnkit folder (~/.nnkit by default).
# Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

PY=$(command -v python3.11 || command -v python3 || true)
if [ -z "$PY" ] || ! "$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "nnkit needs Python 3.11 (found: ${PY:-none})" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  if ! "$PY" -m venv .venv 2>/dev/null; then
    echo "installing Debian's python3-venv" >&2
    rm -rf .venv
    as_root apt-get update -qq && as_root apt-get install -y -qq python3-venv
    "$PY" -m venv .venv
  fi
fi
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat .venv/.requirements.sha256 2>/dev/null)" != "$want" ]; then
  # PyTorch with its CUDA libraries makes a ~6 GB venv: say so up front rather than let pip
  # stop half-way with "No space left on device".
  free_kb=$(df -Pk . | awk 'NR == 2 {print $4}')
  if ! compgen -G ".venv/lib/python3*/site-packages/torch" >/dev/null && [ "$free_kb" -lt 7000000 ]; then
    echo "nnkit: installing PyTorch and the rest needs about 7 GB free in $(pwd);" \
         "only $((free_kb / 1000000)) GB are free. Free some space and run this again." >&2
    exit 1
  fi
  echo "installing the pinned requirements into .venv (first time: a few minutes)" >&2
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
  echo "$want" > .venv/.requirements.sha256
fi
.venv/bin/python -m nnkit data prepare --dataset mnist
