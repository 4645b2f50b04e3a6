"""The Train page's chart items (pages/charts.py): what the browser component is handed."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
from PIL import Image

from nnkit import plots
from pages import charts

STEPS = [(i, 2.3 / (1 + i)) for i in range(1, 41)]  # 40 steps of a falling loss


def test_a_figure_item_is_plain_json_with_its_curves():
    item = charts.figure("loss", plots.loss_per_step(STEPS, steps_per_epoch=20), rev=(7, 40))
    again = json.loads(json.dumps(item))  # what Streamlit sends to the browser
    assert again["id"] == "loss" and again["rev"] == repr((7, 40))
    names = [t["name"] for t in again["figure"]["data"]]
    assert names == ["loss", "smoothed"]
    assert again["figure"]["layout"]["title"]["text"] == "Loss per step"


def test_the_revision_follows_the_signature_only():
    fig = plots.loss_per_step(STEPS)
    assert charts.figure("loss", fig, (1, 40))["rev"] == charts.figure("loss", fig, (1, 40))["rev"]
    assert charts.figure("loss", fig, (1, 40))["rev"] != charts.figure("loss", fig, (1, 41))["rev"]


def test_a_picture_item_is_the_same_pixels_as_a_png_shown_bigger():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(6, 10, 3), dtype=np.uint8)
    item = charts.picture("weights", pixels, "First-layer weights", "step 5", scale=4)
    pic = item["picture"]
    assert (pic["width"], pic["height"]) == (40, 24)
    assert pic["src"].startswith("data:image/png;base64,")
    back = np.asarray(Image.open(io.BytesIO(base64.b64decode(pic["src"].split(",", 1)[1]))))
    np.testing.assert_array_equal(back, pixels)
    other = pixels.copy()
    other[0, 0] ^= 1
    assert charts.picture("weights", other, "First-layer weights", "step 5")["rev"] != item["rev"]
    assert charts.picture("weights", pixels, "First-layer weights", "step 6")["rev"] != item["rev"]


def test_a_note_changes_revision_with_its_text():
    assert charts.note("acc", "soon") == {"id": "acc", "rev": "soon", "note": "soon"}


def test_a_long_loss_curve_is_thinned_to_its_cap_keeping_the_newest_step():
    for n in (plots.MAX_POINTS, plots.MAX_POINTS + 1, 2 * plots.MAX_POINTS - 1, 5000):
        steps = [(i, 1.0 / i) for i in range(1, n + 1)]
        raw, smoothed = plots.loss_per_step(steps).data
        assert len(raw.x) <= plots.MAX_POINTS + 1, n
        assert raw.x[0] == 1 and raw.x[-1] == n and raw.y[-1] == 1.0 / n
        assert list(smoothed.x) == list(raw.x)
    raw, _ = plots.loss_per_step(STEPS).data
    assert list(raw.x) == [s for s, _ in STEPS]  # short curves are kept whole


def test_a_run_that_diverged_in_its_first_epoch_has_its_loss_drawn_per_step():
    rows = [{"step": s, "epoch": 1, "loss": 1.0} for s in range(1, 31)]  # diverged at step 30
    assert plots.steps_per_epoch(rows, epochs_done=0) == 0
    fig = plots.loss_per_step([(r["step"], r["loss"]) for r in rows],
                              steps_per_epoch=plots.steps_per_epoch(rows, 0))
    assert fig.layout.xaxis.title.text == "step" and max(fig.data[0].x) == 30
    rows += [{"step": s, "epoch": 2, "loss": 1.0} for s in range(31, 41)]  # 30 a full epoch
    assert plots.steps_per_epoch(rows, epochs_done=1) == 30
