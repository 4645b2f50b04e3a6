"""A class on one real server (./start.sh --class), a teacher and two students each in their own
Chromium context: nothing shows before the code, sign-in survives a reload and a second tab,
a student can watch but not stop, rename or delete a classmate's run (not even by its link),
the teacher can, caps refuse with a message, and the leaderboard ranks by best accuracy."""

from __future__ import annotations

import re
import sqlite3
from urllib.parse import parse_qs, urlparse

import pytest
from harness import REAL_DATA, Server, screenshot, wait_for_app

pytestmark = pytest.mark.browser
CODE, TEACHER = "KLAS42", "TEACHER-7788"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not (REAL_DATA / "MNIST" / "raw").exists():
        pytest.fail(f"MNIST is not prepared in {REAL_DATA}: run `python -m nnkit data prepare`")
    srv = Server(tmp_path_factory.mktemp("nnkit-class"),
                 ("--class", "--code", CODE, "--teacher-code", TEACHER))
    yield srv
    srv.stop()


def _person(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    return ctx, page


def _sign_in(page, url: str, code: str, name: str) -> None:
    page.goto(url)
    wait_for_app(page)
    page.get_by_label("Class code").fill(code)
    page.get_by_label("Your name").fill(name)
    page.get_by_role("button", name="Join the class").click()
    wait_for_app(page)
    if code != "WRONG9":  # the browser keeps its token a moment after the page is drawn
        page.wait_for_function("() => document.cookie.includes('nnkit_token=')")


def _run_id(page) -> str | None:
    return parse_qs(urlparse(page.url).query).get("run", [None])[-1]


def _train(page, url: str, query: str) -> str:
    page.goto(f"{url}/train?{query}")
    wait_for_app(page)
    page.get_by_role("button", name="Train", exact=True).click()
    page.wait_for_function("() => new URLSearchParams(location.search).has('run')")
    return _run_id(page)


def _sidebar_says(page, text: str) -> None:
    page.locator('[data-testid="stSidebar"]').get_by_text(text, exact=False).first.wait_for()


def test_a_class_signs_in_keeps_its_own_runs_and_the_teacher_rules(server, browser):
    (ctx_a, a), (ctx_b, b), (ctx_t, t) = _person(browser), _person(browser), _person(browser)
    try:
        # Nothing shows before the code: no page, no navigation.
        a.goto(server.url + "/runs")
        wait_for_app(a)
        a.get_by_label("Class code").wait_for()
        assert a.get_by_role("link", name="Train").count() == 0
        assert a.get_by_text("Runs", exact=True).count() == 0
        _sign_in(a, server.url, "WRONG9", "Alan")
        a.get_by_text("not this class's code").wait_for()

        # A name is plain text wherever it shows; a reload and a second tab stay signed in.
        _sign_in(a, server.url, CODE.lower(), "Alan <b>*bold*</b>")
        _sidebar_says(a, "Signed in as Alan <b>*bold*</b>")
        a.reload()
        wait_for_app(a)
        _sidebar_says(a, "Signed in as Alan <b>*bold*</b>")
        assert a.get_by_label("Class code").count() == 0
        second = ctx_a.new_page()
        second.goto(server.url + "/runs")
        wait_for_app(second)
        _sidebar_says(second, "Signed in as Alan")
        second.close()

        # Alan trains a long run; Grace can watch it by its link but not stop it.
        run_a = _train(a, server.url, "train_subset=12000&epochs=8&model=fast-cnn")
        a.get_by_text(re.compile(r"epoch 1/8 · step \d+")).first.wait_for(timeout=90_000)
        _sign_in(b, server.url, CODE, "Grace")
        b.goto(f"{server.url}/train?run={run_a}")
        wait_for_app(b)
        b.get_by_text("you can watch it, not change it").wait_for()
        assert b.get_by_role("button", name="Stop").count() == 0
        assert b.get_by_role("button", name="Pause").count() == 0
        screenshot(b, "class-student-watches-a-classmates-run")

        # On Runs, Grace sees only her own runs, and with classmates' runs too, cannot change them.
        b.goto(f"{server.url}/runs")
        wait_for_app(b)
        b.get_by_text("No runs yet").wait_for()
        b.locator('[data-testid="stSidebar"]').get_by_text("Classmates' runs too").click()
        wait_for_app(b)  # Alan's run, the only one, is the one picked below the table
        b.get_by_text(re.compile(r"This run is Alan .*'s: you can read it, not change it")
                      ).wait_for()
        assert b.get_by_role("button", name="Rename").is_disabled()
        assert b.get_by_role("button", name="Delete", exact=True).is_disabled()

        # The teacher sees the queue and stops Alan's run; Alan's page says who stopped it.
        _sign_in(t, server.url, TEACHER, "Ms Ada")
        _sidebar_says(t, "(teacher)")
        t.get_by_role("link", name="Teacher").click()
        wait_for_app(t)
        t.get_by_text(re.compile(r"Alan .* · run · .* · training")).wait_for()
        screenshot(t, "class-teacher-queue")
        t.get_by_role("button", name="Stop").first.click()
        a.get_by_text(re.compile(r"stopped by the teacher \(Ms Ada\)")).first.wait_for(
            timeout=60_000)

        # Caps: the teacher allows 1 epoch; Grace is told so and cannot start 3.
        t.get_by_label("Epochs per run").fill("1")
        t.get_by_role("button", name="Save caps").click()
        t.get_by_text("Saved: new runs are checked").wait_for()
        b.goto(f"{server.url}/train?epochs=3&model=mlp-64-64&train_subset=2000")
        wait_for_app(b)
        b.get_by_text("The class allows at most 1 epoch(s) per run").wait_for()
        assert b.get_by_role("button", name="Train", exact=True).is_disabled()

        # Two short runs; the leaderboard ranks them by best test accuracy.
        run_b = _train(b, server.url, "epochs=1&model=mlp-64-64&train_subset=3000")
        run_a2 = _train(a, server.url, "epochs=1&model=mlp-64-64&train_subset=1000")
        for p in (a, b):
            p.get_by_text(re.compile(r"finished")).first.wait_for(timeout=120_000)
        db = sqlite3.connect(server.home / "runs.sqlite")
        acc = dict(db.execute("SELECT owner, MAX(best_test_accuracy) FROM runs "
                              "WHERE id IN (?, ?, ?) GROUP BY owner", (run_a, run_a2, run_b)))
        owner_b = db.execute("SELECT owner FROM runs WHERE id = ?", (run_b,)).fetchone()[0]
        db.close()
        first = "Grace" if acc[owner_b] >= max(acc.values()) else "Alan"
        t.get_by_role("link", name="Leaderboard").click()
        wait_for_app(t)
        t.get_by_text("mnist", exact=True).wait_for()
        rows = t.locator('[data-testid="stHorizontalBlock"]').all_inner_texts()
        ranked = [r for r in rows if "%" in r]
        assert len(ranked) == 2 and ranked[0].startswith("1") and first in ranked[0], ranked
        screenshot(t, "class-leaderboard")
        t.get_by_role("link", name="Inspect").first.click()  # one click to the run
        t.wait_for_url("**/inspect?*run=*")  # the link's own query, not the page's default
        wait_for_app(t)
        assert _run_id(t) in (run_b, run_a2, run_a)
    except Exception:
        for name, p in (("alan", a), ("grace", b), ("teacher", t)):
            screenshot(p, f"class-failed-{name}")
        raise
    finally:
        for ctx in (ctx_a, ctx_b, ctx_t):
            ctx.close()
