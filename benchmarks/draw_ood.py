"""Does the Draw page tell a drawing that is no digit from a digit? (nnkit/ood.py)

Trains the default fast-cnn (or takes --run-id), builds the check the page uses (calibrated on
the first 2,000 MNIST test digits) and counts what it flags:
- real MNIST test digits it was not calibrated on (bar: at most 2 %),
- test digits drawn on the canvas as draw_accuracy.py draws them (and their accuracy, which the
  check does not change: it only adds a warning),
- shapes that are no digit, drawn with a mouse-like stroke renderer (letters, symbols,
  doodles; each several times, at random sizes, places, widths and wobbles) (bar: >= 70 %).
For comparison, the same counts for maximum softmax probability with its threshold calibrated
the same way.

    python benchmarks/draw_ood.py [--run-id ID --home DIR] [--n 1000] [--repeats 5]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

import argparse
import json
import math
import os
import tempfile

import numpy as np
import torch
from draw_accuracy import drawings, trained_run

from nnkit import data, ood, paths
from nnkit.predict import Predictor
from nnkit.preprocess import render_on_canvas, render_strokes
from nnkit.runs import RunStore

FLAGGED_DIGITS_BAR, FLAGGED_SHAPES_BAR = 0.02, 0.70


def arc(cx, cy, r, a0=0.0, a1=360.0, n=40):
    return [(cx + r * math.cos(math.radians(a0 + (a1 - a0) * i / n)),
             cy + r * math.sin(math.radians(a0 + (a1 - a0) * i / n))) for i in range(n + 1)]


def polar(points: int, turn: float, r: float = 0.4):
    return [(0.5 + r * math.cos(math.radians(-90 + turn * i)),
             0.5 + r * math.sin(math.radians(-90 + turn * i))) for i in range(points + 1)]


SHAPES = {  # strokes of (x, y) in [0, 1]; none is meant to pass for a digit
    "house": [[(.2, .9), (.2, .45), (.5, .15), (.8, .45), (.8, .9), (.2, .9)],
              [(.2, .45), (.8, .45)]],
    "star": [polar(5, 144)],
    "smiley": [arc(.5, .5, .4), [(.37, .38), (.37, .42)], [(.63, .38), (.63, .42)],
               arc(.5, .5, .22, 30, 150)],
    "heart": [[(.5, .85), (.15, .45), *arc(.32, .35, .18, 150, 360)[1:],
               *arc(.68, .35, .18, 180, 390)[1:], (.85, .45), (.5, .85)]],
    "A": [[(.2, .9), (.5, .1), (.8, .9)], [(.33, .6), (.67, .6)]],
    "E": [[(.75, .1), (.3, .1), (.3, .9), (.75, .9)], [(.3, .5), (.65, .5)]],
    "F": [[(.75, .1), (.3, .1), (.3, .9)], [(.3, .5), (.65, .5)]],
    "H": [[(.25, .1), (.25, .9)], [(.75, .1), (.75, .9)], [(.25, .5), (.75, .5)]],
    "K": [[(.3, .1), (.3, .9)], [(.75, .1), (.3, .55), (.75, .9)]],
    "M": [[(.15, .9), (.2, .1), (.5, .6), (.8, .1), (.85, .9)]],
    "N": [[(.25, .9), (.25, .1), (.75, .9), (.75, .1)]],
    "W": [[(.1, .1), (.3, .9), (.5, .4), (.7, .9), (.9, .1)]],
    "X": [[(.2, .1), (.8, .9)], [(.8, .1), (.2, .9)]],
    "plus": [[(.5, .15), (.5, .85)], [(.15, .5), (.85, .5)]],
    "hash": [[(.35, .1), (.3, .9)], [(.7, .1), (.65, .9)], [(.1, .35), (.9, .35)],
             [(.1, .65), (.9, .65)]],
    "equals": [[(.15, .35), (.85, .35)], [(.15, .65), (.85, .65)]],
    "asterisk": [[(.5, .1), (.5, .9)], [(.15, .3), (.85, .7)], [(.85, .3), (.15, .7)]],
    "arrow": [[(.1, .5), (.9, .5)], [(.65, .25), (.9, .5), (.65, .75)]],
    "triangle": [[(.5, .1), (.9, .85), (.1, .85), (.5, .1)]],
    "square": [[(.15, .15), (.85, .15), (.85, .85), (.15, .85), (.15, .15)]],
    "spiral": [[(.5 + .059 * t / 6.28 * math.cos(t), .5 + .059 * t / 6.28 * math.sin(t))
                for t in np.linspace(0, 6 * math.pi, 80)]],
    "wave": [[(x, .5 + .25 * math.sin(x * 4 * math.pi)) for x in np.linspace(.05, .95, 50)]],
    "sun": [arc(.5, .5, .18)] + [[(.5 + .26 * math.cos(a), .5 + .26 * math.sin(a)),
                                  (.5 + .42 * math.cos(a), .5 + .42 * math.sin(a))]
                                 for a in np.linspace(0, 2 * math.pi, 9)[:-1]],
    "tree": [[(.5, .9), (.5, .55)], [(.2, .6), (.5, .1), (.8, .6), (.2, .6)]],
    "boxed cross": [[(.15, .15), (.85, .15), (.85, .85), (.15, .85), (.15, .15)],
                    [(.15, .15), (.85, .85)]],
}


def shape_drawings(repeats: int, seed: int) -> list[tuple[str, np.ndarray]]:
    """Each shape `repeats` times: size 50-80 % of the canvas, shifted up to 40 px, strokes
    16-24 px wide, a 2 px wobble."""
    rng = np.random.default_rng(seed)
    out = []
    for name, strokes in SHAPES.items():
        for r in range(repeats):
            out.append((name, render_strokes(
                strokes, size=float(rng.uniform(0.5, 0.8)),
                offset=tuple(int(v) for v in rng.integers(-40, 41, 2)),
                width=int(rng.choice([16, 20, 24])), jitter=2.0, seed=seed * 1000 + r)))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run-id", help="a stored run to use instead of training one")
    p.add_argument("--home", help="NNKIT_HOME holding the run store (default: a temp folder)")
    p.add_argument("--n", type=int, default=1000, help="canvas-drawn test digits")
    p.add_argument("--repeats", type=int, default=5, help="drawings of each shape")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    os.environ["NNKIT_DATA"] = str(paths.data_dir())
    tmp = None
    if a.home:
        os.environ["NNKIT_HOME"] = a.home
    elif not a.run_id:
        tmp = tempfile.TemporaryDirectory(prefix="nnkit-ood-")
        os.environ["NNKIT_HOME"] = tmp.name
    data.prepare("mnist")
    store = RunStore()
    predictor = Predictor.load(store, trained_run(store, a.run_id))
    train_x, _ = data.load_split("mnist", train=True)
    test_x, test_y = data.load_split("mnist", train=False)
    test_x, test_y = test_x[:, 0].numpy(), test_y.numpy()
    index = predictor.familiarity_index(train_x[:, 0].numpy(), test_x)

    def prep(u8):
        return ood.model_inputs(u8, predictor.mean, predictor.std, predictor.normalize)

    def msp(inputs: torch.Tensor) -> np.ndarray:  # higher: less sure
        with torch.inference_mode():
            return -torch.softmax(predictor.model(inputs), 1).max(1).values.numpy()

    calibration = prep(test_x[:ood.CALIBRATION_IMAGES])
    msp_threshold = float(np.quantile(msp(calibration), ood.KEEP))
    held = prep(test_x[ood.CALIBRATION_IMAGES:])
    digits_flagged = float(np.mean(index.scores(held) > index.threshold))
    digits_msp = float(np.mean(msp(held) > msp_threshold))

    draws = [d for d in drawings(a.n * 2, a.seed) if d[0] >= ood.CALIBRATION_IMAGES][:a.n]
    canvas_inputs, right = [], []
    for i, scale, shift, stroke in draws:
        pre = predictor.preprocess(render_on_canvas(test_x[i], 280, scale, shift, stroke))
        canvas_inputs.append(pre.model_input)
        right.append(int(np.argmax(predictor.probs(pre.model_input))) == test_y[i])
    canvas = torch.as_tensor(np.stack(canvas_inputs))[:, None]
    drawn_flagged = float(np.mean(index.scores(canvas) > index.threshold))

    shapes = shape_drawings(a.repeats, a.seed)
    inputs = torch.as_tensor(np.stack([predictor.preprocess(img).model_input
                                       for _, img in shapes]))[:, None]
    flagged = index.scores(inputs) > index.threshold
    flagged_msp = msp(inputs) > msp_threshold
    names = [n for n, _ in shapes]
    per_shape = {n: float(np.mean([f for m, f in zip(names, flagged, strict=True) if m == n]))
                 for n in SHAPES}
    shapes_flagged, shapes_msp = float(flagged.mean()), float(flagged_msp.mean())

    print(f"run {predictor.run_id} ({predictor.name}); threshold {index.threshold:.3f} "
          f"(typical test digit {index.typical:.3f}), k = {ood.K}")
    print(f"real test digits flagged ({len(held)}, not calibrated on): {digits_flagged:.2%}  "
          f"bar <= {FLAGGED_DIGITS_BAR:.0%}: "
          f"{'ok' if digits_flagged <= FLAGGED_DIGITS_BAR else 'MISSED'}  (MSP {digits_msp:.2%})")
    print(f"canvas-drawn test digits flagged ({len(draws)}): {drawn_flagged:.2%}; their "
          f"accuracy {np.mean(right):.2%} (unchanged: the check only warns)")
    print(f"shapes flagged ({len(SHAPES)} shapes x {a.repeats}): {shapes_flagged:.2%}  bar >= "
          f"{FLAGGED_SHAPES_BAR:.0%}: {'ok' if shapes_flagged >= FLAGGED_SHAPES_BAR else 'MISSED'}"
          f"  (MSP {shapes_msp:.2%})")
    print("  " + "  ".join(f"{n} {v:.0%}" for n, v in per_shape.items()))
    print(json.dumps({"run_id": predictor.run_id, "threshold": index.threshold,
                      "digits_flagged": digits_flagged, "drawn_digits_flagged": drawn_flagged,
                      "drawn_accuracy": float(np.mean(right)), "shapes_flagged": shapes_flagged,
                      "msp_digits_flagged": digits_msp, "msp_shapes_flagged": shapes_msp,
                      "per_shape": per_shape}))
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
