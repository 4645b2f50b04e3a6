"""The catalogue's figures, trained for real: our test accuracy beside the report's.

    python benchmarks/catalogue_figures.py [--keys keras-mlp lenet5-like overfitting]
                                           [--device auto] [--epochs N] [--threads N]

Each experiment's runs train through nnkit.training.loop.train on the full MNIST (as the Catalogue
page would queue them). One line per epoch, then ours beside the report's figure; the last line
is one JSON object. --epochs shortens every run (a quick check, not a figure).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

import argparse
import json

import torch

from nnkit import catalogue
from nnkit.training.events import Callback, EpochEnd
from nnkit.training.loop import train
from nnkit.training.runner import load_bundle_for

DEFAULT_KEYS = ("keras-mlp", "lenet5-like", "overfitting")


class Printer(Callback):
    def on_epoch_end(self, e: EpochEnd) -> None:
        val = f"  val {e.val_accuracy:.4f}" if e.val_accuracy is not None else ""
        print(f"    epoch {e.epoch:3d}: train {e.train_accuracy:.4f}{val}  test "
              f"{e.test_accuracy:.4f}  {e.seconds:7.1f} s", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description="train the catalogue's experiments on MNIST")
    p.add_argument("--keys", nargs="+", default=list(DEFAULT_KEYS),
                   choices=[k for k, e in catalogue.EXPERIMENTS.items() if e.runs])
    p.add_argument("--device", default="auto")
    p.add_argument("--epochs", type=int, help="override every run's epochs (a quick check)")
    p.add_argument("--threads", type=int, help="torch CPU threads (1 avoids stalls under load)")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    results: dict = {}
    for key in a.keys:
        exp = catalogue.experiment(key)
        print(f"{exp.title} — the report: {exp.reported}", flush=True)
        for label, cfg in exp.runs:
            cfg = cfg.with_changes(device=a.device, **({"epochs": a.epochs} if a.epochs else {}))
            print(f"  {label}: {cfg.optimizer} lr {cfg.lr:g}, batch {cfg.batch_size}, "
                  f"{cfg.epochs} epochs", flush=True)
            res = train(cfg, load_bundle_for(cfg), [Printer()])
            last = res.history[-1] if res.history else None
            row = {"test": res.end.test_accuracy, "reported": exp.reported_for(label),
                   "reference": exp.reference_accuracy, "epochs": len(res.history),
                   "train": last.train_accuracy if last else None,
                   "val": last.val_accuracy if last else None,
                   "seconds": round(res.end.train_seconds, 1), "device": res.device,
                   "status": res.end.status}
            results.setdefault(key, {})[label] = row
            gap = (f"; train {row['train']:.4f} vs validation {row['val']:.4f}"
                   if row["val"] is not None else "")
            print(f"  -> ours {row['test']:.4f} test ({row['seconds']} s on {res.device}); "
                  f"the report: {row['reported']}{gap}", flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
