"""The accuracy bars of the backend, trained for real on MNIST:

- fast-cnn reaches >= 99.0 % test accuracy within 15 s of training (the default RunConfig);
- mlp-500-300 with weight decay reaches >= 98.4 % within 20 epochs.

    python benchmarks/accuracy_bars.py [--only fast-cnn|mlp-500-300] [--device auto]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

import argparse
import json

from nnkit import data
from nnkit.config import RunConfig
from nnkit.training.events import Callback, EpochEnd
from nnkit.training.loop import train

CONFIGS = {
    "fast-cnn": RunConfig(),  # AdamW 1e-2, wd 1e-4, one-cycle over 1 epoch, batch 64
    "mlp-500-300": RunConfig(model="mlp-500-300", optimizer="sgd", lr=0.1, momentum=0.9,
                             weight_decay=1e-4, batch_size=128, epochs=20, schedule="cosine"),
}
BARS = {"fast-cnn": (0.990, "within 15 s of training"), "mlp-500-300": (0.984, "within 20 epochs")}


class Printer(Callback):
    def on_epoch_end(self, e: EpochEnd) -> None:
        print(f"  epoch {e.epoch:2d}: test {e.test_accuracy:.4f} after {e.seconds:6.1f} s "
              f"({e.images_per_second:,.0f} img/s)", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description="MNIST accuracy bars")
    p.add_argument("--only", choices=tuple(CONFIGS))
    p.add_argument("--device", default="auto")
    a = p.parse_args()
    data.prepare("mnist")
    results = {}
    for name, cfg in CONFIGS.items():
        if a.only and name != a.only:
            continue
        cfg = cfg.with_changes(device=a.device)
        print(f"{name}: {cfg.optimizer} lr {cfg.lr} wd {cfg.weight_decay} {cfg.epochs} epochs")
        res = train(cfg, data.load_bundle("mnist"), [Printer()])
        bar, when = BARS[name]
        hist = res.history
        first = next((h for h in hist if (h.test_accuracy or 0) >= bar), None)
        reached = f"epoch {first.epoch} after {first.seconds:.1f} s" if first else "never"
        print(f"  final {res.end.test_accuracy:.4f} in {res.end.train_seconds:.1f} s on "
              f"{res.device}; >= {bar:.1%} reached: {reached} (bar: {when})")
        results[name] = {"final": res.end.test_accuracy, "seconds": res.end.train_seconds,
                         "bar_epoch": first.epoch if first else None,
                         "bar_seconds": first.seconds if first else None, "device": res.device}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
