"""Your own images in a real Chromium: a generated ImageFolder zip uploaded on the Data page,
a run trained on it from the Train page, its class names on Inspect."""

from __future__ import annotations

import io
import re
import zipfile

import numpy as np
import pytest
from harness import Server, screenshot, wait_for_app
from PIL import Image, ImageDraw

pytestmark = pytest.mark.browser

CLASSES = ("circle", "square", "cross_mark")  # an underscore: plain text, not markdown
PER_CLASS = 30
CAPTION = '[data-testid="stImageCaption"]'


def shapes_zip() -> bytes:
    """3 classes x 30 grey 40x40 drawings of a shape, jittered, inside one top folder."""
    rng = np.random.default_rng(0)
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        for c in CLASSES:
            for i in range(PER_CLASS):
                im = Image.new("L", (40, 40), 0)
                d = ImageDraw.Draw(im)
                x, y, r = (*rng.integers(14, 26, 2), int(rng.integers(7, 12)))
                box = [x - r, y - r, x + r, y + r]
                if c == "circle":
                    d.ellipse(box, outline=255, width=3)
                elif c == "square":
                    d.rectangle(box, outline=255, width=3)
                else:
                    d.line(box, fill=255, width=3)
                    d.line([x - r, y + r, x + r, y - r], fill=255, width=3)
                out = io.BytesIO()
                im.save(out, "PNG")
                z.writestr(f"shapes/{c}/{i:02d}.png", out.getvalue())
    return b.getvalue()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A server with an empty data folder of its own: the upload must not reach ~/.nnkit."""
    srv = Server(tmp_path_factory.mktemp("nnkit-home"), data=tmp_path_factory.mktemp("data"))
    yield srv
    srv.stop()


def test_upload_a_zip_train_on_it_and_see_its_classes_on_inspect(server, page):
    page.goto(f"{server.url}/data")
    wait_for_app(page)
    page.get_by_text("Add your own images").click()
    page.locator("input[type=file]").set_input_files(
        {"name": "shapes.zip", "mimeType": "application/zip", "buffer": shapes_zip()})
    page.get_by_text("shapes.zip").wait_for()
    name = page.get_by_label("Name", exact=True).and_(page.locator("input"))
    name.fill("shapes")
    name.press("Enter")
    wait_for_app(page)
    page.get_by_role("button", name="Add dataset").click()
    page.get_by_text("3 classes, 28 × 28 grayscale, 72 training and 18 test images").wait_for(
        timeout=60_000)
    page.locator(CAPTION).nth(29).wait_for()  # the gallery of 30 random training images
    captions = page.locator(CAPTION).all_inner_texts()
    assert len(captions) == 30 and all(re.search(r"#\d+ (circle|square|cross_mark)$", c)
                                       for c in captions), captions[:3]
    page.mouse.move(5, 5)
    screenshot(page, "userdata-added")

    page.goto(f"{server.url}/train?dataset=shapes&model=mlp-64-64&epochs=1&batch_size=16")
    wait_for_app(page)
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text(re.compile(r"— finished: ")).wait_for(timeout=90_000)
    run_id = re.search(r"run=([\w-]+)", page.url).group(1)
    screenshot(page, "userdata-trained")

    page.goto(f"{server.url}/inspect?run={run_id}")
    wait_for_app(page)
    matrix = page.locator(".js-plotly-plot:has-text('Confusion matrix')")
    matrix.wait_for()
    texts = "els => els.map(e => e.textContent)"  # SVG text has no innerText
    ticks = matrix.locator(".xtick text").evaluate_all(texts)
    assert ticks == sorted(CLASSES), ticks  # sorted, as ImageFolder does
    assert matrix.locator(".ytick text").evaluate_all(texts) == sorted(CLASSES)
    page.locator(CAPTION).first.wait_for()
    captions = " ".join(page.locator(CAPTION).all_inner_texts())
    assert re.search(r"pred (circle|square|cross_mark) · label (circle|square|cross_mark)",
                     captions), captions[:200]
    assert page.get_by_text("cross_mark").count() > 0  # not read as markdown emphasis
    screenshot(page, "userdata-inspect")
