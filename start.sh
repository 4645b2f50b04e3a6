#!/usr/bin/env bash
# Sets everything up, then starts the nnkit dashboard on http://127.0.0.1:8501 (MNIST, ready to train).
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
echo "nnkit: open http://127.0.0.1:8501 in your browser (Ctrl+C stops the server)"
exec .venv/bin/python scripts/serve.py "$@"
