"""Home in a real Chromium against a fresh server: the page the README's start command opens."""

from __future__ import annotations

import pytest
from harness import screenshot

pytestmark = pytest.mark.browser


def test_home_holds_the_status_place_until_the_status_arrives(server, page):
    # A fresh server imports torch for Home's status (~3 s): until then a line says so. The
    # status's place is never blank (the placeholder was once cleared before the import).
    page.goto(server.url)
    page.get_by_text("Start here").wait_for()
    checking = page.get_by_text("Checking what this machine")
    status = page.get_by_text("Runs stored")
    assert checking.or_(status).first.is_visible()
    status.wait_for()
    assert checking.count() == 0
    page.get_by_text("MNIST").nth(1).wait_for()  # its metric: the first is the intro's word
    screenshot(page, "home")
