"""The CLI as a user runs it against the textbook loop as a student runs it, quiet and loaded.

Each side trains in its own fresh process with the environment a user has (nothing set here):
`python -m nnkit train --model lenet5 --optimizer adam --lr 1e-3 --batch-size 64` on
steps x 64 training images, and benchmarks/textbook_loop.py (torchvision MNIST + ToTensor +
DataLoader, LeNet-5, Adam 1e-3, batch 64) for the same number of steps. The two alternate,
`--repeat` times each, first on a quiet machine, then with a busy process beside both (a
`while True: pass`, one core's worth). The medians of images/s and their ratio are printed for
each condition (the bars on the 2-core CPU: >= 3x quiet, >= 2x loaded).

    python benchmarks/train_speed.py [--steps 400] [--repeat 3] [--model lenet5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout

from nnkit import data, paths  # no torch: paths and data's prepare only

SETTINGS = ["--optimizer", "adam", "--lr", "1e-3", "--weight-decay", "0", "--batch-size", "64",
            "--schedule", "none", "--epochs", "1"]


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def run_cli(model: str, steps: int, home: Path) -> float:
    """images/s of `python -m nnkit train`, as a user starts it."""
    out = subprocess.run([sys.executable, "-m", "nnkit", "train", "--model", model, *SETTINGS,
                          "--train-subset", str(steps * 64)], cwd=ROOT, check=True,
                         capture_output=True, text=True,
                         env={**os.environ, "NNKIT_HOME": str(home)}).stdout
    return last_json(out)["images_per_second"]


def run_textbook(steps: int) -> float:
    """images/s of the textbook loop in its own process."""
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "textbook_loop.py"),
                          "--data", str(paths.data_dir()), "--steps", str(steps)],
                         check=True, capture_output=True, text=True).stdout
    return last_json(out)["images_per_second"]


@contextmanager
def busy_beside(on: bool):
    """A process that keeps one core busy, or nothing."""
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if on else None
    try:
        yield
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="lenet5", help="the CLI's model (the textbook: LeNet-5)")
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    data.prepare("mnist")
    home = Path(os.environ.get("TMPDIR", "/tmp")) / f"nnkit-bench-{os.getpid()}"
    summary = {}
    for condition in ("quiet", "loaded"):
        cli, book = [], []
        with busy_beside(condition == "loaded"):
            for _ in range(a.repeat):  # alternated, so drift in the machine's speed is shared
                book.append(run_textbook(a.steps))
                cli.append(run_cli(a.model, a.steps, home))
        c, b = statistics.median(cli), statistics.median(book)
        print(f"{condition:6}  textbook {b:8,.0f} images/s  {[round(x) for x in book]}\n"
              f"{'':6}  nnkit CLI {c:7,.0f} images/s  {[round(x) for x in cli]}\n"
              f"{'':6}  ratio {c / b:.2f}x (bar: >= {3 if condition == 'quiet' else 2}x)",
              flush=True)
        summary[condition] = {"textbook_ips": book, "cli_ips": cli, "ratio": c / b}
    print(json.dumps({"model": a.model, "steps": a.steps, **summary}))


if __name__ == "__main__":
    main()
