#!/usr/bin/env bash
# Sets everything up (requirements, MNIST, Debian's chromium for the browser tests), then runs
# every test: unit tests, the real-MNIST smoke test, AppTest pages and the real-browser tests.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
if [ ! -x /usr/bin/chromium ]; then
  echo "installing Debian's chromium for the browser tests" >&2
  as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
  as_root apt-get update -qq && as_root apt-get install -y -qq chromium >/dev/null
fi
# Tests never use the network: downloads are switched off, the browser is told to stay local.
export NNKIT_OFFLINE=1
# ruff first (zero findings is the bar), then every test, whatever ruff found.
lint=0
.venv/bin/python -m ruff check . || lint=$?
.venv/bin/python -m pytest "$@" || exit $?
exit "$lint"
