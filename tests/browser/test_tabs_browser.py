"""Two tabs on one server in a real Chromium: each shows its own run, a second tab's Train press
queues its own run, and a tab whose run was deleted elsewhere says so and offers the form."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest
from harness import screenshot, wait_for_app

pytestmark = pytest.mark.browser


def _run_id(page) -> str | None:
    return parse_qs(urlparse(page.url).query).get("run", [None])[-1]


def _tab(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    return ctx, page


def test_a_second_tab_queues_its_own_run_and_a_deleted_run_gives_back_the_form(server, browser):
    ctx_a, a = _tab(browser)
    ctx_b, b = _tab(browser)
    try:
        a.goto(f"{server.url}/train?train_subset=12000&epochs=8&model=fast-cnn")
        wait_for_app(a)
        a.get_by_role("button", name="Train", exact=True).click()
        a.get_by_text(re.compile(r"epoch 1/8 · step \d+")).first.wait_for(timeout=60_000)
        run_a = _run_id(a)
        assert run_a

        # Tab B is not shown A's run as its own: it gets the form, and word of the queue.
        b.goto(f"{server.url}/train?train_subset=2000")
        wait_for_app(b)
        b.get_by_text("1 job(s) queued or training already").wait_for()
        assert b.get_by_role("button", name="Stop").count() == 0
        b.get_by_role("button", name="Train", exact=True).click()
        b.get_by_text("Queued: 1 job(s) ahead of it").wait_for()
        run_b = _run_id(b)
        assert run_b and run_b != run_a
        screenshot(b, "train-second-tab-queued")
        b.get_by_role("button", name="Stop").click()  # the queued run is dropped
        b.get_by_text(re.compile(r"stopped before it started")).first.wait_for()

        # B deletes A's run on the Runs page; A, untouched, says so and offers the form.
        b.goto(f"{server.url}/runs?run={run_a}")
        wait_for_app(b)
        b.get_by_role("combobox", name="Run", exact=True).click()
        b.get_by_role("option", name=re.compile(re.escape(run_a))).click()
        wait_for_app(b)
        b.wait_for_function("() => [...document.querySelectorAll('p')].filter("
                            "p => p.innerText === 'Yes, delete this run').length === 1")
        b.get_by_text("Yes, delete this run").click()
        wait_for_app(b)
        b.get_by_role("button", name="Delete", exact=True).click()
        b.get_by_text(re.compile(rf"Deleted .*{re.escape(run_a)}")).wait_for(timeout=60_000)

        a.get_by_text(f"Run {run_a} is not in the store: it was deleted").wait_for(
            timeout=30_000)
        assert a.get_by_role("button", name="Train", exact=True).is_visible()
        assert a.get_by_role("button", name="Pause").count() == 0
        assert _run_id(a) is None
        screenshot(a, "train-run-deleted-elsewhere")
    finally:
        ctx_a.close()
        ctx_b.close()
