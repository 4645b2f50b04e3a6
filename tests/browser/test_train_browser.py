"""The Train page in a real Chromium against a real server: a live MNIST run, Stop, reload."""

from __future__ import annotations

import re
import time

import pytest
from harness import screenshot, wait_for_app

pytestmark = pytest.mark.browser

CHARTS = "iframe[title$='live_charts']"  # the charts component (pages/charts.py)
ACC_POINTS = ".js-plotly-plot:has-text('Accuracy per epoch') .scatterlayer .trace .points path"


def _wait_for_points(page, at_least: int, timeout: float = 120) -> int:
    """Poll (no clicks) until the accuracy chart shows at least this many markers."""
    deadline = time.monotonic() + timeout
    points = page.frame_locator(CHARTS).locator(ACC_POINTS)
    while (n := points.count()) < at_least:
        assert time.monotonic() < deadline, f"the accuracy chart has {n} points, not {at_least}"
        page.wait_for_timeout(500)
    return n


def test_live_run_grows_by_itself_stops_and_survives_a_reload(server, page, browser):
    # A real MNIST run of 8 epochs of 12,000 images each (2-3 s an epoch): long enough that
    # Stop, pressed once the chart has two points, lands while it still trains.
    page.goto(f"{server.url}/train?train_subset=12000&epochs=8&model=fast-cnn")
    wait_for_app(page)
    # The charts' frame is on the page before Train (it loads Plotly meanwhile); the run is
    # drawn in that same frame, not in a new one that would load Plotly again.
    page.locator(CHARTS).wait_for(state="attached")
    page.locator(CHARTS).element_handle().content_frame().evaluate("window.nnkitMark = 1")
    page.get_by_role("button", name="Train", exact=True).click()

    # With no click, the progress bar moves and the accuracy chart gains points.
    page.get_by_text(re.compile(r"epoch 1/8 · step \d+")).first.wait_for(timeout=60_000)
    first = _wait_for_points(page, at_least=1)
    assert page.locator(CHARTS).element_handle().content_frame().evaluate("window.nnkitMark")
    # The form has folded away: the live view is in sight (1000 px high window), unscrolled.
    assert page.get_by_role("button", name="Set up another run").is_visible()
    assert page.locator('[data-testid="stMain"]').evaluate("m => m.scrollTop") == 0
    charts = page.locator(CHARTS).bounding_box()
    bar = page.get_by_role("progressbar").bounding_box()
    assert 0 <= bar["y"] and charts["y"] < page.viewport_size["height"], (bar, charts)
    _wait_for_points(page, at_least=first + 1)
    page.mouse.move(5, 5)
    screenshot(page, "train-live")

    page.get_by_role("button", name="Stop").click()
    page.get_by_text(re.compile(r"stopped")).first.wait_for(timeout=60_000)
    run_id = re.search(r"run=([\w-]+)", page.url).group(1)

    page.reload()  # a refresh loses no run: the page reattaches through ?run=ID
    wait_for_app(page)
    page.get_by_text(re.compile(r"stopped")).first.wait_for(timeout=30_000)
    _wait_for_points(page, at_least=first + 1, timeout=30)  # its curves are drawn again
    screenshot(page, "train-after-reload")

    page.goto(f"{server.url}/runs")
    wait_for_app(page)
    page.get_by_text("1 of 1 run(s)").wait_for()
    page.get_by_text(re.compile(r"stopped: stopped by the user after \d+ steps")).wait_for()
    picker = page.locator('[data-testid="stSelectbox"]').last  # the "one run" picker
    shown = picker.inner_text() + " ".join(i.input_value() for i in picker.locator("input").all())
    assert run_id in shown, shown
    screenshot(page, "runs-after-stop")

    # The same run in a tab whose system theme is dark ("System", the menu's default): the
    # charts take the page's light text on a see-through background, not the white template.
    dark = browser.new_context(viewport={"width": 1400, "height": 1000}, color_scheme="dark")
    try:
        tab = dark.new_page()
        tab.goto(f"{server.url}/train?run={run_id}")
        wait_for_app(tab)
        _wait_for_points(tab, at_least=first + 1, timeout=60)
        frame = tab.locator(CHARTS).element_handle().content_frame()
        colours = frame.evaluate(
            "() => [...document.querySelectorAll('.js-plotly-plot')].map(p => [p._fullLayout"
            ".font.color, p._fullLayout.paper_bgcolor, p._fullLayout.plot_bgcolor])")
        page_text = tab.evaluate("() => getComputedStyle(document.querySelector('h1')).color")
        assert colours and all(bg == pbg == "rgba(0,0,0,0)" for _, bg, pbg in colours), colours
        light = [c for c, _, _ in colours if _brightness(c) > 180]
        assert len(light) == len(colours), (colours, page_text)
        assert _brightness(page_text) > 180, page_text  # the page itself is dark-themed
        tab.mouse.move(5, 5)
        screenshot(tab, "train-dark-theme")
    finally:
        dark.close()


def _brightness(css_colour: str) -> float:
    """The mean of a CSS colour's red, green and blue ("#rrggbb", "rgb(...)" or "rgba(...)")."""
    if css_colour.startswith("#"):
        return sum(int(css_colour[i:i + 2], 16) for i in (1, 3, 5)) / 3
    return sum(float(v) for v in re.findall(r"[\d.]+", css_colour)[:3]) / 3
