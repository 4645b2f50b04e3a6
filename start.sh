#!/usr/bin/env bash
# Sets everything up, then starts the nnkit dashboard on http://127.0.0.1:8501 (MNIST, ready to train).
# ./start.sh --class serves a class on the network instead (it prints the codes to sign in).
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
case " $* " in
  *" --class "*) echo "nnkit: starting a class (Ctrl+C stops the server)" ;;
  *) echo "nnkit: open http://127.0.0.1:8501 in your browser (Ctrl+C stops the server)" ;;
esac
exec .venv/bin/python scripts/serve.py "$@"
