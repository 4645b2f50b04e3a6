"""K replicates trained at once with torch.func vs one after another, on MNIST, in one process.

Both sides do the same work: K networks of one preset (default 15 x mlp-64-64), seeds 0..K-1,
Adam 1e-3, batch 128, one epoch, then the full test evaluation of each. "One after another" is
nnkit's own train() per seed; "at once" is nnkit.training.batched.train_batched, which gives every
member the init and batch order train() would. The ratio of seconds is printed (the bar is
>= 2x on a 2-core CPU), with the per-member test accuracy (mean, sample std) of both.

    python benchmarks/batched_speed.py [--model mlp-64-64] [--members 15] [--epochs 1]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

import argparse
import json
import time

import numpy as np
import torch

import nnkit  # noqa: F401 - first: its OpenMP settings must be in place before torch loads
from nnkit import data, device
from nnkit.config import RunConfig
from nnkit.training.batched import train_batched
from nnkit.training.loop import train


def summary(accs: list[float]) -> tuple[float, float]:
    """Mean and sample std (ddof=1) of accuracies."""
    a = np.asarray(accs)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="mlp-64-64")
    p.add_argument("--members", type=int, default=15)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--device", default="cpu")
    a = p.parse_args()
    data.prepare("mnist")
    bundle = data.load_bundle("mnist")
    base = RunConfig(model=a.model, optimizer="adam", lr=1e-3, weight_decay=0.0, batch_size=128,
                     epochs=a.epochs, schedule="none", device=a.device, eval_each_epoch=False)
    cfgs = [base.with_changes(seed=s) for s in range(a.members)]
    dev, _ = device.pick(a.device)
    print(f"{a.members} x {a.model}, {a.epochs} epoch(s) of MNIST each, on "
          f"{device.describe(dev)}")

    warm = data.load_bundle("mnist", train_subset=512)  # first-call costs out of the figures
    train(cfgs[0].with_changes(epochs=1), warm)
    train_batched(cfgs[:2], [warm, warm])

    t0 = time.perf_counter()
    together = train_batched(cfgs, [bundle] * len(cfgs))
    at_once = time.perf_counter() - t0
    t0 = time.perf_counter()
    alone = [train(c, bundle) for c in cfgs]
    one_by_one = time.perf_counter() - t0

    acc_b = [r.end.test_accuracy for r in together]
    acc_s = [r.end.test_accuracy for r in alone]
    (mb, sb), (ms, ss) = summary(acc_b), summary(acc_s)
    gap = max(abs(x - y) for x, y in zip(acc_b, acc_s, strict=True))
    print(f"one after another: {one_by_one:7.1f} s   test accuracy {100 * ms:.2f} ± "
          f"{100 * ss:.2f} %")
    print(f"at once:           {at_once:7.1f} s   test accuracy {100 * mb:.2f} ± {100 * sb:.2f} %")
    print(f"ratio:             {one_by_one / at_once:7.2f}x faster at once "
          f"(largest per-member accuracy gap {100 * gap:.2f} points)")
    print(json.dumps({"model": a.model, "members": a.members, "epochs": a.epochs,
                      "device": device.describe(dev), "threads": torch.get_num_threads(),
                      "seconds_one_after_another": round(one_by_one, 2),
                      "seconds_at_once": round(at_once, 2),
                      "ratio": round(one_by_one / at_once, 2),
                      "accuracy_one_after_another": {"mean": ms, "std": ss},
                      "accuracy_at_once": {"mean": mb, "std": sb},
                      "max_member_gap": gap}))


if __name__ == "__main__":
    main()
