"""Draw in a real Chromium while what sits above the canvas changes (every run removed, then
the one-click run ending): the drawing stays on the canvas, and it is what gets classified."""

from __future__ import annotations

import io

import numpy as np
import pytest
from harness import screenshot, wait_for_app
from PIL import Image
from test_draw_browser import canvas_box, prediction, seeded_server, stroke

from nnkit.runs import RunStore

__all__ = ["seeded_server"]  # the fixture: a server whose store holds one small MNIST run

pytestmark = pytest.mark.browser

def _ink(page) -> int:
    """Bright pixels in a shot of the drawing surface: what the user sees on the canvas."""
    shot = page.locator("canvas.upper-canvas").first.screenshot()
    grey = np.asarray(Image.open(io.BytesIO(shot)).convert("L"))
    return int((grey > 128).sum())


def test_the_drawing_stays_while_the_runs_above_it_change(seeded_server, page):
    page.goto(f"{seeded_server.url}/draw")
    wait_for_app(page)
    box = canvas_box(page)
    cx, top, h = box["x"] + box["width"] / 2, box["y"], box["height"]
    stroke(page, [(cx + 8, top + 0.15 * h), (cx, top + 0.5 * h), (cx - 6, top + 0.85 * h)])
    prediction(page, 1)
    page.mouse.move(5, 5)
    ink = _ink(page)
    assert ink > 1000

    # Every run is removed (in another tab, say); the page's next run offers to train one
    # instead of the run chooser above the canvas, and the drawing stays where it was drawn.
    store = RunStore(seeded_server.home / "runs.sqlite")
    for run in store.list():
        store.delete(run.id)
    page.get_by_role("slider").first.focus()  # any edit reruns the page
    page.keyboard.press("ArrowRight")
    page.get_by_text("No trained model can classify drawings yet").wait_for()
    wait_for_app(page)
    assert abs(_ink(page) - ink) <= ink // 10  # a slightly wider stroke, the same drawing

    # The one-click run trains and ends: the chooser comes back above the same drawing,
    # which is what gets classified.
    ink = _ink(page)
    page.get_by_role("button", name="Train the fast-cnn default (about 15 s)").click()
    page.get_by_text("Classify with").wait_for(timeout=180_000)
    prediction(page, 1)
    page.mouse.move(5, 5)
    assert abs(_ink(page) - ink) <= ink // 20
    screenshot(page, "draw-after-one-click-run")
