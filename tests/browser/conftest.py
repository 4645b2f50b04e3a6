"""Fixtures: a real Streamlit server (tmp NNKIT_HOME, the real MNIST) and Debian's Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import CHROMIUM, REAL_DATA, Server, launch_chromium, screenshot, wait_for_app

__all__ = ["screenshot", "wait_for_app"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A fresh server per test module, with an empty run store."""
    if not (REAL_DATA / "MNIST" / "raw").exists():
        pytest.fail(f"MNIST is not prepared in {REAL_DATA}: run `python -m nnkit data prepare`")
    srv = Server(tmp_path_factory.mktemp("nnkit-home"))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (test.sh does it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = launch_chromium(pw)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A new tab 1400x1000; closed after the test."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    p = ctx.new_page()
    p.set_default_timeout(30_000)
    yield p
    ctx.close()
