"""The Train form edited several times in a row in a real Chromium, the way a user clicks and
types: every edit is kept (AppTest sets widget values directly and cannot see an edit that
Streamlit rebuilds away), and what the page shows is what it would train."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlparse

import pytest
from harness import screenshot, wait_for_app

pytestmark = pytest.mark.browser


def _field(page, kind: str, label: str):
    """A widget's container by its type and label."""
    return page.locator(f'[data-testid="{kind}"]').filter(
        has=page.get_by_text(label, exact=True)).first


def _query(page) -> dict[str, str]:
    """The page's query parameters: the settings the server holds (it writes them there)."""
    return {k: v[-1] for k, v in parse_qs(urlparse(page.url).query).items()}


def _query_value(page, key: str, want: str, timeout: float = 15.0) -> str | None:
    """The query's value for key once it reads `want` (or, for the model spec's JSON, once it
    holds `want`), or what it reads after `timeout` seconds: a loaded machine may start the
    rerun after _settle's pause (a dropped edit never shows up, so the comparison still
    fails)."""
    def there(got: str | None) -> bool:
        return got == want or (key == "spec" and got is not None and want in got)

    deadline = time.monotonic() + timeout
    while not there(got := _query(page).get(key)) and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    return got


def _settle(page) -> None:
    page.wait_for_timeout(150)  # let the browser send the change before waiting on the run
    wait_for_app(page)


def _type_number(page, label: str, text: str) -> None:
    box = _field(page, "stNumberInput", label).locator("input")
    box.fill(text)
    box.press("Enter")
    _settle(page)


def _selected(page, label: str) -> str:
    """What a select box shows as chosen."""
    return page.get_by_role("combobox", name=label, exact=True).input_value()


def _choose(page, label: str, option: str) -> None:
    page.get_by_role("combobox", name=label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()
    _settle(page)


def test_every_edit_of_the_train_form_is_kept(server, page):
    page.goto(f"{server.url}/train")
    wait_for_app(page)
    epochs = _field(page, "stNumberInput", "Epochs")

    seen = []  # Epochs' + pressed four times: 2, 3, 4, 5 (it read 2, 2, 3, 3)
    for _ in range(4):
        epochs.get_by_test_id("stNumberInputStepUp").click()
        _settle(page)
        value = epochs.locator("input").input_value()
        seen.append((value, _query_value(page, "epochs", value)))
    assert seen == [(str(n), str(n)) for n in (2, 3, 4, 5)], seen

    typed = []  # three learning rates typed in a row (0.05, 0.05, 0.03 were kept)
    for lr in ("0.05", "0.02", "0.03"):
        _type_number(page, "Learning rate", lr)
        typed.append((_field(page, "stNumberInput", "Learning rate").locator("input")
                      .input_value(), _query_value(page, "lr", lr)))
    assert typed == [(lr, lr) for lr in ("0.05", "0.02", "0.03")], typed

    chosen = []
    for name in ("sgd", "rmsprop", "adam"):
        _choose(page, "Optimizer", name)
        chosen.append((_selected(page, "Optimizer"), _query_value(page, "optimizer", name)))
    assert chosen == [(n, n) for n in ("sgd", "rmsprop", "adam")], chosen

    # The custom builder's fields, edited in a row too.
    _choose(page, "Model", "custom")
    widths = []
    for text in ("64, 32", "128", "256, 64"):
        box = _field(page, "stTextInput", "Dense hidden widths").locator("input")
        box.fill(text)
        box.press("Enter")
        _settle(page)
        want = '"hidden":[' + text.replace(" ", "") + "]"
        widths.append((box.input_value(), want in (_query_value(page, "spec", want) or "")))
    assert widths == [("64, 32", True), ("128", True), ("256, 64", True)], widths
    drops = []
    for text in ("0.2", "0.3", "0.1"):
        _type_number(page, "Dropout", text)
        want = f'"dropout":{text}'
        drops.append((_field(page, "stNumberInput", "Dropout").locator("input").input_value(),
                      want in (_query_value(page, "spec", want) or "")))
    assert drops == [("0.20", True), ("0.30", True), ("0.10", True)], drops
    screenshot(page, "train-form-edited")


def test_an_out_of_range_number_disables_train_until_it_is_fixed(server, page):
    page.goto(f"{server.url}/train")
    wait_for_app(page)
    train = page.get_by_role("button", name="Train", exact=True)
    assert train.is_enabled()
    _type_number(page, "Epochs", "5000")
    assert _field(page, "stNumberInput", "Epochs").locator("input").input_value() == "5000"
    page.get_by_text("must be a whole number in [1, 1000] (got 5000)").wait_for()
    assert train.is_disabled()  # it would otherwise train with the last valid value
    _type_number(page, "Epochs", "3")
    assert train.is_enabled()
    assert _query_value(page, "epochs", "3") == "3"
    _type_number(page, "Learning rate", "-1")
    page.get_by_text("must be a number in (0, 10] (got -1").wait_for()
    assert train.is_disabled()
