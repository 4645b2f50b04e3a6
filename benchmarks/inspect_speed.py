"""Are the Inspect, Weights and Data views quick? Times each view's backend work as the pages do it.

Trains a short real mlp-500-300 run (10,000 images, 1 epoch) and a fast-cnn run in a temporary
NNKIT_HOME (or takes existing runs with --run-id / --cnn-run-id from $NNKIT_HOME, training
only the one not given), then times:
the evaluation load and confusion figure, one cell's mistakes gallery, the per-class report, the
500-unit template grid and figure, the top-activating images of one unit over the 10k test set,
one image's feature maps, and the Data page's statistics. Figures are serialized to JSON as
st.plotly_chart does. Prints ms for each (median of --repeat) and the max (the bar: each < 1 s),
then one JSON line.

    python benchmarks/inspect_speed.py [--run-id ID] [--cnn-run-id ID] [--repeat 3]
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import argparse
import json
import os
import statistics
import tempfile
import time

import numpy as np
import plotly.io
import torch

from nnkit import data, inspect, metrics, models, paths, plots
from nnkit.config import RunConfig
from nnkit.runs import RunStore
from nnkit.templates import template_grid, templates_from_weight
from nnkit.training.runner import load_model, run_and_store

BAR_MS = 1000.0
MLP = RunConfig(model="mlp-500-300", train_subset=10000, epochs=1, optimizer="sgd", lr=0.05,
                schedule="none")
CNN = RunConfig(model="fast-cnn", train_subset=10000, epochs=1)


def timed(fn, repeat: int) -> tuple[float, object]:
    """Median wall time of fn() in ms, and its last result."""
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(1000 * (time.perf_counter() - t0))
    return statistics.median(times), out


def train(store: RunStore, cfg: RunConfig) -> str:
    t0 = time.perf_counter()
    run_id, result = run_and_store(cfg, store)
    print(f"trained {cfg.model}: {result.end.test_accuracy:.4f} test accuracy in "
          f"{time.perf_counter() - t0:.1f} s", flush=True)
    return run_id


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run-id", help="an mlp-500-300 run in $NNKIT_HOME's store (else train one)")
    p.add_argument("--cnn-run-id", help="a CNN run in $NNKIT_HOME's store (else train one)")
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    tmp = None
    if not (a.run_id or a.cnn_run_id):  # train both in a temporary nnkit folder
        tmp = tempfile.TemporaryDirectory()
        os.environ["NNKIT_DATA"] = str(paths.data_dir())  # the data stays where it is
        os.environ["NNKIT_HOME"] = tmp.name
    store = RunStore()  # a run not given is trained into this store
    mlp_id = a.run_id or train(store, MLP)
    cnn_id = a.cnn_run_id or train(store, CNN)
    run = store.get(mlp_id)
    info = data.DATASETS[run.dataset]
    ms: dict[str, float] = {}

    def evaluation_and_confusion():
        ev = store.load_arrays(mlp_id, "evaluation")
        preds = torch.from_numpy(ev["preds"].astype(np.int64))
        probs = torch.from_numpy(ev["probs"].astype(np.float32))
        cm = torch.from_numpy(ev["confusion"].astype(np.int64))
        pairs = metrics.most_confused_pairs(cm, 1)
        fig = plots.confusion_heatmap(cm.numpy(), info.classes, highlight=pairs[0][:2])
        plotly.io.to_json(fig, validate=False)
        return preds, probs, cm

    ms["load evaluation + confusion figure"], (preds, probs, cm) = timed(
        evaluation_and_confusion, a.repeat)
    ms["test set load (first visit; cached after)"], (test_x, test_y) = timed(
        lambda: data.load_split(run.dataset, train=False), a.repeat)
    t, pr, _ = metrics.most_confused_pairs(cm, 1)[0]

    def cell_gallery():
        idx = metrics.mistake_indices(preds, test_y, probs, t, pr)[:40]
        return plots.pictures(test_x[idx].numpy(), 3)

    ms[f"mistakes gallery (true {t}, predicted {pr})"], _ = timed(cell_gallery, a.repeat)

    def per_class():
        import pandas as pd

        report = metrics.per_class_report(cm)
        pd.DataFrame({"class": info.classes, **report})
        return metrics.most_confused_pairs(cm, 8)

    ms["per-class report + confused pairs"], _ = timed(per_class, a.repeat)

    def template_view():
        snap = store.load_arrays(mlp_id, "first_layer_e001")["weight"]
        templates = templates_from_weight(snap, info.input_shape)
        grid = template_grid(templates)
        plotly.io.to_json(plots.weight_grid(grid, "after epoch 1", height=700), validate=False)
        return len(templates)

    ms["template grid + figure (500 units)"], units = timed(template_view, a.repeat)
    assert units == 500, units
    ms["load model (first visit; cached after)"], (model, _, _) = timed(
        lambda: load_model(store, mlp_id), a.repeat)
    bundle = data.DataBundle(info, test_x[:0], test_y[:0], None, None, test_x, test_y,
                             run.config.normalize)
    first = inspect.first_layer(model)
    ms["top-activating, 1 unit over 10k test images"], _ = timed(
        lambda: inspect.top_activating(inspect.truncated_at(model, first), test_x, 42, k=9,
                                       layer=first, transform=bundle.as_float), a.repeat)
    whole_ms, _ = timed(  # for comparison only: what running the whole model would cost
        lambda: inspect.top_activating(model, test_x, 42, k=9, transform=bundle.as_float),
        a.repeat)
    cnn, _, _ = load_model(store, cnn_id)

    def maps_view():
        maps = inspect.feature_maps(cnn, bundle.as_float(test_x[3:4])[0])
        for name, m in maps:
            grid = template_grid(m.numpy(), per_tile_scale=True)
            plotly.io.to_json(plots.activation_grid(grid, name), validate=False)
        return maps

    ms["feature maps, 1 image (fast-cnn)"], _ = timed(maps_view, a.repeat)

    def data_page():
        x, y = data.load_split(run.dataset, train=True)
        mean, std = data.pixel_stats(data.pixel_histogram(x))
        hist = metrics.class_histogram(y, info.num_classes)
        plotly.io.to_json(plots.class_counts(hist.tolist(), info.classes), validate=False)
        idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:30]
        plots.pictures(x[idx].numpy(), 3)
        return mean, std

    ms["data page stats (loads 60k images; cached after)"], (mean, std) = timed(data_page,
                                                                                a.repeat)
    params = sum(r.params for r in models.summary(run.config.model_spec(), info.input_shape,
                                                  info.num_classes))
    width = max(len(k) for k in ms)
    print(f"\n{run.config.model} ({params:,} parameters) and fast-cnn, median of {a.repeat}; "
          f"torch threads {torch.get_num_threads()}")
    for name, value in ms.items():
        print(f"{name:<{width}}  {value:8.1f} ms")
    worst = max(ms, key=ms.get)
    print(f"{'max':<{width}}  {ms[worst]:8.1f} ms  ({worst}; bar {BAR_MS:.0f} ms: "
          f"{'ok' if ms[worst] < BAR_MS else 'OVER'})")
    print(f"(top-activating through the whole model instead: {whole_ms:.1f} ms)")
    print(f"pixel mean {mean[0]:.4f}, std {std[0]:.4f}")
    print(json.dumps({"ms": {k: round(v, 1) for k, v in ms.items()},
                      "max_ms": round(ms[worst], 1), "bar_ms": BAR_MS,
                      "top_activating_whole_model_ms": round(whole_ms, 1),
                      "ok": ms[worst] < BAR_MS}))
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
