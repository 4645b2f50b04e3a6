"""Running the real app under Streamlit's AppTest, one page at a time."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import streamlit as st
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # pages import `from pages import ui`


def open_page(page: str, query: dict[str, str] | None = None, timeout: float = 60,
              reload: bool = False) -> AppTest:
    """app.py switched to pages/<page>.py, run once, with fresh process-wide resources; or,
    with reload, as a new session of the same server (a reload, a second tab): the run store
    and the job queue stay."""
    if not reload:
        st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.switch_page(f"pages/{page}.py")
    return at.run()


def fresh_server() -> None:
    """Forget what a server holds for everyone (its run store, job queue and class), as a new
    server would. The pages' caches of what a run computed (its model, its familiarity index:
    seconds of CPU each) stay, keyed by run id and checkpoint time as in the app."""
    from pages import ui

    for resource in (ui._store, ui._manager, ui._classroom):
        resource.clear()


def button(at: AppTest, label: str):
    """The first button with this label."""
    for b in at.button:
        if b.label == label:
            return b
    raise AssertionError(f"no button {label!r}; buttons: {[b.label for b in at.button]}")


def texts(at: AppTest) -> str:
    """Everything the page says in markdown, alerts, captions, metrics and progress bars, as one
    string."""
    parts = []
    for kind in ("markdown", "success", "info", "warning", "error", "caption", "subheader",
                 "title"):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [f"{m.label}: {m.value}" for m in at.metric]
    parts += [e.proto.text for e in at.get("progress")]
    return "\n".join(parts)


def rerun_until(at: AppTest, predicate, timeout: float = 60, every: float = 0.5) -> AppTest:
    """Rerun the page (run_every does not fire under AppTest) until predicate(at) holds."""
    deadline = time.monotonic() + timeout
    while True:
        at.run()
        assert not at.exception, at.exception
        if predicate(at):
            return at
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; the page says:\n{texts(at)}")
        time.sleep(every)
