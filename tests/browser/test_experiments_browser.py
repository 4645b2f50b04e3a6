"""A sweep on the Experiments page in a real Chromium: its form edited several times in a row
is what it trains, and the sweep trains in the queue through a reload and a second tab, and
stops from that tab."""

from __future__ import annotations

import re

import pytest
from harness import screenshot, wait_for_app

from nnkit.runs import RunStore

pytestmark = pytest.mark.browser


def _type_number(page, label: str, text: str) -> None:
    box = page.locator('[data-testid="stNumberInput"]').filter(
        has=page.get_by_text(label, exact=True)).first.locator("input")
    box.fill(text)
    box.press("Enter")
    page.wait_for_timeout(150)  # let the browser send the change
    wait_for_app(page)


def test_a_sweep_edited_in_the_form_survives_a_reload_and_a_second_tab_and_stops(
        server, browser):
    tabs = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(2)]
    a, b = (ctx.new_page() for ctx in tabs)
    for p in (a, b):
        p.set_default_timeout(90_000)  # the first visit imports torch for the sweep's plan
    try:
        a.goto(f"{server.url}/experiments")
        wait_for_app(a)
        a.get_by_text("4 values × 3 replicates = 12 runs").first.wait_for()
        # three edits in a row, each kept: epochs 3, replicates 2, epochs 20
        _type_number(a, "Epochs", "3")
        _type_number(a, "Replicates", "2")
        _type_number(a, "Epochs", "20")
        a.get_by_text("4 values × 2 replicates = 8 runs").first.wait_for()
        a.get_by_role("button", name="Run", exact=True).click()
        a.get_by_text("Training", exact=True).wait_for()
        store = RunStore(server.home / "runs.sqlite")
        runs = store.list()
        assert len(runs) == 8 and {r.config.epochs for r in runs} == {20}
        assert {r.config.seed for r in runs} == {0, 1}

        a.reload()  # the sweep goes on, and the page shows it again
        wait_for_app(a)
        a.get_by_text("Training", exact=True).wait_for()
        a.get_by_text(re.compile(r"0/8 finished")).first.wait_for()
        screenshot(a, "experiments-sweep-after-reload")

        b.goto(f"{server.url}/experiments")  # a second tab sees the same sweep, and stops it
        wait_for_app(b)
        b.get_by_text("Training", exact=True).wait_for()
        b.get_by_role("button", name="Stop").first.click()
        b.get_by_text(re.compile(r"Sweep ended: 8 runs")).first.wait_for()
        a.get_by_text(re.compile(r"Sweep ended: 8 runs")).first.wait_for()
        a.get_by_text(re.compile(r"No member finished, so there is nothing to compare")).wait_for()
        screenshot(a, "experiments-sweep-stopped")
        runs = store.list()
        assert {r.status for r in runs} == {"stopped"}
        # all eight train at once in the training process, and keep what they learned
        assert all(r.pid != server.proc.pid for r in runs)
        assert all(store.checkpoint_path(r.id).exists() for r in runs)
        (job,) = store.list_jobs("sweep")
        assert job.status == "stopped" and job.spec["replicates"] == 2
    finally:
        for ctx in tabs:
            ctx.close()
