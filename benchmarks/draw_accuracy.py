"""How well the Draw page's preprocessing serves a network: MNIST test digits drawn on a canvas.

Each test digit is rendered into a 280x280 canvas as a user would draw it (scale in [0.5, 1.0],
shifted up to +-60 px, strokes thinned or thickened), then classified (a) through
preprocess_drawing (crop, 20x20, centre by mass) and (b) through naive_resize (the whole canvas
squeezed to 28x28). Bars: (a) >= 97 % and preprocess + predict of one drawing <= 50 ms median.

    python benchmarks/draw_accuracy.py [--run-id ID --home DIR] [--n 2000] [--seed 0]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

import argparse
import json
import os
import tempfile
import time

import numpy as np
import torch

from nnkit import data, paths
from nnkit.config import RunConfig
from nnkit.predict import Predictor
from nnkit.preprocess import render_on_canvas
from nnkit.runs import RunStore
from nnkit.training.events import Callback, EpochEnd
from nnkit.training.runner import run_and_store

ACCURACY_BAR = 0.97  # (a), through preprocess_drawing
LATENCY_BAR_MS = 50.0  # median preprocess + predict of one drawing
SCALES = (0.5, 1.0)  # uniform: the digit's 20x20 box spans 35 % to 70 % of the canvas
MAX_SHIFT = 60  # px, each axis, uniform integers
STROKES = (-1, 0, 1, 2)  # render_on_canvas: thinner, as is, thicker


class Printer(Callback):
    def on_epoch_end(self, e: EpochEnd) -> None:
        print(f"  epoch {e.epoch}: test {e.test_accuracy:.4f} after {e.seconds:.1f} s", flush=True)


def drawings(n: int, seed: int) -> list[tuple[int, float, tuple[int, int], int]]:
    """n seeded (test index, scale, shift, stroke) draws, each test image at most once."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(10_000, size=n, replace=n > 10_000)
    scales = rng.uniform(*SCALES, size=n)
    shifts = rng.integers(-MAX_SHIFT, MAX_SHIFT + 1, size=(n, 2))
    strokes = rng.choice(STROKES, size=n)
    return [(int(i), float(s), (int(r), int(c)), int(k))
            for i, s, (r, c), k in zip(idx, scales, shifts, strokes, strict=True)]


def trained_run(store: RunStore, run_id: str | None) -> str:
    """The given run, or a fresh default fast-cnn trained on MNIST into the store."""
    if run_id:
        return run_id
    cfg = RunConfig()
    print(f"training {cfg.model} on {cfg.dataset}: {cfg.epochs} epochs, {cfg.optimizer} "
          f"lr {cfg.lr}, {cfg.schedule}", flush=True)
    run_id, result = run_and_store(cfg, store, callbacks=[Printer()])
    print(f"  {result.end.status}: test {result.end.test_accuracy:.4f} in "
          f"{result.end.train_seconds:.1f} s on {result.device}", flush=True)
    return run_id


def main() -> None:
    p = argparse.ArgumentParser(description="canvas-drawn MNIST: preprocessing vs naive resize")
    p.add_argument("--run-id", help="a stored run to use instead of training one")
    p.add_argument("--home", help="NNKIT_HOME holding the run store (default: a temp folder)")
    p.add_argument("--n", type=int, default=2000, help="drawings to classify")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    if a.run_id and not a.home and not os.environ.get("NNKIT_HOME"):
        p.error("--run-id needs --home (or NNKIT_HOME) naming the store that holds it")
    os.environ["NNKIT_DATA"] = str(paths.data_dir())  # keep the data where it is
    tmp = None
    if a.home:
        os.environ["NNKIT_HOME"] = a.home
    elif not a.run_id:
        tmp = tempfile.TemporaryDirectory(prefix="nnkit-draw-")
        os.environ["NNKIT_HOME"] = tmp.name
    data.prepare("mnist")
    store = RunStore()
    run_id = trained_run(store, a.run_id)
    predictor = Predictor.load(store, run_id)
    rec = store.get(run_id)
    test_x, test_y = data.load_split("mnist", train=False)
    test_x, test_y = test_x[:, 0].numpy(), test_y.numpy()  # (10000, 28, 28) uint8, (10000,)

    draws = drawings(a.n, a.seed)
    print(f"classifying {a.n} drawn test digits with run {run_id} ({rec.name}, test "
          f"{rec.final_test_accuracy:.4f}): scale {SCALES}, shift +-{MAX_SHIFT} px, strokes "
          f"{STROKES}", flush=True)
    for i, s, shift, k in draws[:5]:  # warm-up: first calls allocate
        predictor.probs(predictor.preprocess(render_on_canvas(test_x[i], 280, s, shift, k))
                        .model_input)
    right_pre = np.zeros(a.n, dtype=bool)
    naive = np.empty((a.n, 28, 28), dtype=np.float32)
    times_ms = np.empty(a.n)
    for j, (i, scale, shift, stroke) in enumerate(draws):
        canvas = render_on_canvas(test_x[i], 280, scale, shift, stroke)  # (280, 280, 4) uint8
        t0 = time.perf_counter()
        pre = predictor.preprocess(canvas)
        probs = predictor.probs(pre.model_input)
        times_ms[j] = (time.perf_counter() - t0) * 1000
        right_pre[j] = int(np.argmax(probs)) == test_y[i]
        naive[j] = predictor.naive(canvas)
    with torch.inference_mode():
        naive_pred = predictor.model(torch.from_numpy(naive)[:, None]).argmax(1).numpy()
    labels = test_y[[d[0] for d in draws]]
    right_naive = naive_pred == labels

    acc_pre, acc_naive = float(right_pre.mean()), float(right_naive.mean())
    median, p90 = float(np.median(times_ms)), float(np.percentile(times_ms, 90))
    print(f"(a) preprocess_drawing: {acc_pre:.2%} ({right_pre.sum()}/{a.n})  bar >= "
          f"{ACCURACY_BAR:.0%}: {'ok' if acc_pre >= ACCURACY_BAR else 'MISSED'}")
    print(f"(b) naive_resize:       {acc_naive:.2%} ({right_naive.sum()}/{a.n})")
    for stroke in STROKES:
        m = np.array([d[3] == stroke for d in draws])
        print(f"    stroke {stroke:+d}: (a) {right_pre[m].mean():.2%}  (b) "
              f"{right_naive[m].mean():.2%}  ({m.sum()} drawings)")
    scales = np.array([d[1] for d in draws])
    for lo, hi in ((0.5, 0.75), (0.75, 1.0001)):
        m = (scales >= lo) & (scales < hi)
        print(f"    scale [{lo}, {min(hi, 1.0)}]: (a) {right_pre[m].mean():.2%}  (b) "
              f"{right_naive[m].mean():.2%}")
    print(f"preprocess + predict, one drawing (batch 1, CPU, inference_mode, one intra-op thread):"
          f" median {median:.2f} ms, p90 {p90:.2f} ms  bar <= {LATENCY_BAR_MS:.0f} ms median: "
          f"{'ok' if median <= LATENCY_BAR_MS else 'MISSED'}")
    print(json.dumps({"run_id": run_id, "model_test_accuracy": rec.final_test_accuracy,
                      "n": a.n, "seed": a.seed, "accuracy_preprocessed": acc_pre,
                      "accuracy_naive": acc_naive, "median_ms": median, "p90_ms": p90,
                      "bars_met": acc_pre >= ACCURACY_BAR and median <= LATENCY_BAR_MS}))
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
