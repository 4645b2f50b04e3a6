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
# One worker per core (NNKIT_TEST_WORKERS=0: all in this process), each taking a whole module at a
# time (a module's server, browser and cluster are started once), in the order collected:
# browser and slow modules first (tests/conftest.py), so no long one is left to run alone.
.venv/bin/python -m pytest -n "${NNKIT_TEST_WORKERS:-auto}" --dist loadfile --no-loadscope-reorder "$@" || exit $?
exit "$lint"
