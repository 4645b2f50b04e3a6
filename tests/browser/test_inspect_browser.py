"""The Inspect page in a real Chromium: clicking a confusion-matrix cell shows that cell's images.
Also screenshots of the Weights and Data pages on the same short real MNIST run."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from harness import REAL_DATA, ROOT, screenshot, wait_for_app

pytestmark = pytest.mark.browser

CAPTION = '[data-testid="stImageCaption"]'
# Where an off-diagonal cell of the confusion matrix is on the screen, read from Plotly itself:
# the invisible marker trace holds (true, predicted, count) per cell; the axes map to pixels.
FIND_CELL = """() => {
  const gd = [...document.querySelectorAll('.js-plotly-plot')].find(
      g => ((g.layout.title || {}).text || '').includes('Confusion matrix'));
  const cells = gd._fullData.find(t => t.name === 'cells');  // x, y decoded from binary
  const shown = gd.layout.shapes[0];  // the cell shown now is outlined
  let best = null;
  cells.customdata.forEach((c, i) => {
    const [t, p, n] = [cells.y[i], cells.x[i], Number(c[2])];
    const current = shown && Math.round(shown.x0 + 0.5) === p && Math.round(shown.y0 + 0.5) === t;
    if (t !== p && n > 0 && !current && (best === null || n > best.n)) best = {t, p, n};
  });
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
  best.x = box.left + xa._offset + xa.l2p(best.p);
  best.y = box.top + ya._offset + ya.l2p(best.t);
  return best;
}"""


@pytest.fixture(scope="module")
def trained(server):
    """One short real fast-cnn run in the server's store, trained by the CLI."""
    env = {**os.environ, "NNKIT_HOME": str(server.home), "NNKIT_DATA": str(REAL_DATA),
           "NNKIT_OFFLINE": "1"}
    subprocess.run([sys.executable, "-m", "nnkit", "train", "--train-subset", "6000",
                    "--epochs", "1"], env=env, cwd=ROOT, check=True, capture_output=True,
                   timeout=300)
    return server


def test_clicking_a_confusion_cell_shows_its_images(trained, page):
    page.goto(f"{trained.url}/inspect")
    wait_for_app(page)
    page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot')].some("
                           "g => g.layout && ((g.layout.title || {}).text || '').includes("
                           "'Confusion matrix'))")  # Streamlit wraps titles in <b>
    page.get_by_text("Test accuracy").first.wait_for()
    page.locator(CAPTION, has_text="pred ").nth(39).wait_for()  # both grids of 20 drawn
    page.mouse.move(5, 5)
    screenshot(page, "inspect-before-click")

    cell = page.evaluate(FIND_CELL)
    page.mouse.move(cell["x"], cell["y"])
    page.wait_for_timeout(300)  # let Plotly register the hover before the click
    page.mouse.click(cell["x"], cell["y"])

    label = f"true {cell['t']} → predicted {cell['p']}"
    page.locator(CAPTION, has_text=label).first.wait_for(timeout=30_000)
    wait_for_app(page)
    captions = page.locator(CAPTION, has_text="→ predicted").all_inner_texts()
    assert len(captions) == min(40, cell["n"])
    assert all(label in c for c in captions)
    page.mouse.move(5, 5)
    screenshot(page, "inspect-after-click")


def test_weights_and_data_pages_draw(trained, page):
    page.goto(f"{trained.url}/weights")
    wait_for_app(page)
    page.get_by_text("Feature maps").first.wait_for()
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 3")
    screenshot(page, "weights-cnn")
    page.goto(f"{trained.url}/data")
    wait_for_app(page)
    page.get_by_text("What normalization does").first.wait_for()
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 5")
    # st.image's list is a lazily loaded chunk of Streamlit's frontend: on a busy machine it can
    # arrive after the Plotly charts below it, so wait for the thirtieth caption, then count.
    page.locator(CAPTION).nth(29).wait_for()
    assert page.locator(CAPTION).count() == 30
    screenshot(page, "data-mnist")
