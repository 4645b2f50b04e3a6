"""The Draw page in a real Chromium: draw a 1 and, after Clear, a 0 with the mouse on the
canvas; a star is no digit; and, last (it removes the module's run), the drawing stays on the
canvas while what sits above it changes (every run removed, then the one-click run ending), and
it is what gets classified."""

from __future__ import annotations

import io
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from harness import REAL_DATA, ROOT, screenshot, wait_for_app
from PIL import Image
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from nnkit.runs import RunStore

pytestmark = pytest.mark.browser

SEED_RUN = "RunConfig(train_subset=10000, epochs=1)"  # ~98 % on the test set, a few seconds
BLANK = "Draw a digit on the black square"  # what the page says with nothing drawn
SEED_SCRIPT = ("from nnkit.config import RunConfig; "
               "from nnkit.training.runner import run_and_store; "
               f"from nnkit.runs import RunStore; run_and_store({SEED_RUN}, RunStore())")


@pytest.fixture(scope="module")
def seeded_server(server):
    """The module's server, its store holding one small real MNIST run (trained beside it)."""
    env = {**os.environ, "NNKIT_HOME": str(server.home), "NNKIT_DATA": str(REAL_DATA),
           "NNKIT_OFFLINE": "1"}
    subprocess.run([sys.executable, "-c", SEED_SCRIPT], cwd=ROOT, env=env, check=True,
                   timeout=600)
    return server


def canvas_box(page) -> dict:
    """The drawing surface's box once it stays put (each canvas widget has three <canvas>; the
    upper one draws; a new canvas mounts beside the old one for a moment after Clear)."""
    surfaces = page.locator("canvas.upper-canvas")
    last = None
    while True:
        surfaces.first.wait_for()
        box = surfaces.first.bounding_box() if surfaces.count() == 1 else None
        if box is not None and box == last:
            return box
        last = box
        page.wait_for_timeout(300)


def stroke(page, points: list[tuple[float, float]]) -> None:
    """One mouse stroke through the points, as a hand would draw it."""
    page.mouse.move(*points[0])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(x, y, steps=10)
    page.mouse.up()


def clear(page) -> None:
    """Press Clear and wait for the new, empty canvas."""
    old = page.locator("canvas.upper-canvas").first.element_handle()
    page.get_by_role("button", name="Clear", exact=True).click()
    page.wait_for_function("surface => !surface.isConnected", arg=old)
    page.get_by_text(BLANK).wait_for()
    wait_for_app(page)


def prediction(page, digit: int) -> None:
    """Wait until the page shows this predicted digit and everything below it."""
    try:
        page.get_by_text(re.compile(rf"Prediction: {digit} · confidence")).wait_for(
            timeout=60_000)
    except PlaywrightTimeout:
        page.mouse.move(5, 5)
        screenshot(page, f"draw-failed-{digit}")
        raise
    page.get_by_text("Nearest training images").wait_for(timeout=60_000)
    page.wait_for_function(  # 5 preprocessing steps, the saliency map, 5 neighbours
        "document.querySelectorAll('[data-testid=\"stImage\"] img').length >= 11",
        timeout=60_000)
    wait_for_app(page)


def draw_a_one(page, url: str) -> None:
    """Open Draw, stroke a slanted 1 down the canvas, and wait until it is read as a 1."""
    page.goto(f"{url}/draw")
    wait_for_app(page)
    box = canvas_box(page)
    cx, top, h = box["x"] + box["width"] / 2, box["y"], box["height"]
    stroke(page, [(cx + 8, top + 0.15 * h), (cx, top + 0.5 * h), (cx - 6, top + 0.85 * h)])
    prediction(page, 1)


def test_draw_a_one_then_clear_and_draw_a_zero(seeded_server, page):
    page.goto(f"{seeded_server.url}/draw")
    wait_for_app(page)
    page.get_by_text(BLANK).wait_for()

    box = canvas_box(page)
    cx, top, h = box["x"] + box["width"] / 2, box["y"], box["height"]
    stroke(page, [(cx + 8, top + 0.15 * h), (cx, top + 0.5 * h), (cx - 6, top + 0.85 * h)])
    prediction(page, 1)
    page.mouse.move(5, 5)  # the canvas toolbar shows while hovered
    wait_for_app(page)
    screenshot(page, "draw-one")

    clear(page)
    box = canvas_box(page)
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    rx, ry = 0.22 * box["width"], 0.33 * box["height"]
    ring = [(cx + rx * math.sin(t), cy - ry * math.cos(t))
            for t in (2 * math.pi * i / 36 for i in range(38))]  # closed, a little overlap
    stroke(page, ring)
    prediction(page, 0)
    page.get_by_text("Compare with a naive resize").click()
    page.get_by_text(re.compile(r"Naive: \w+ · ")).wait_for()
    page.mouse.move(5, 5)
    wait_for_app(page)
    screenshot(page, "draw-zero")

    clear(page)  # a dot is no digit: the page says so instead of guessing
    box = canvas_box(page)
    x, y = box["x"] + 0.3 * box["width"], box["y"] + 0.3 * box["height"]
    stroke(page, [(x, y), (x + 2, y + 1)])
    page.get_by_text(re.compile(r"Not sure: .*tiny")).wait_for(timeout=60_000)
    page.mouse.move(5, 5)
    wait_for_app(page)
    screenshot(page, "draw-not-sure")


NOT_A_DIGIT = "This doesn't look like a digit the network knows"


def test_a_star_is_called_no_digit_and_a_one_is_not(seeded_server, page):
    draw_a_one(page, seeded_server.url)
    page.get_by_text("Likeness to its training digits").wait_for()
    assert page.get_by_text(NOT_A_DIGIT).count() == 0

    clear(page)
    box = canvas_box(page)
    cx, cy, r = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, 0.38 * box["width"]
    star = [(cx + r * math.cos(math.radians(-90 + 144 * i)),
             cy + r * math.sin(math.radians(-90 + 144 * i))) for i in range(6)]
    stroke(page, star)  # one stroke, as a hand draws a five-pointed star
    page.get_by_text(NOT_A_DIGIT).wait_for(timeout=60_000)
    page.get_by_text(re.compile(r"Prediction: \w+ · confidence")).wait_for()  # still its guess
    page.get_by_text("this drawing is beyond that").wait_for()
    page.mouse.move(5, 5)
    wait_for_app(page)
    screenshot(page, "draw-star")


def _ink(page) -> int:
    """Bright pixels in a shot of the drawing surface: what the user sees on the canvas."""
    shot = page.locator("canvas.upper-canvas").first.screenshot()
    grey = np.asarray(Image.open(io.BytesIO(shot)).convert("L"))
    return int((grey > 128).sum())


def test_the_drawing_stays_while_the_runs_above_it_change(seeded_server, page):
    draw_a_one(page, seeded_server.url)
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
