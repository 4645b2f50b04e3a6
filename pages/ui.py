"""What every page shares: the run store and run manager (process-wide), and small helpers."""

from __future__ import annotations

import streamlit as st

from nnkit.manager import RunManager
from nnkit.runs import RunRecord, RunStore, StoreError


@st.cache_resource(show_spinner=False)
def _store() -> RunStore:
    store = RunStore()
    store.recover_interrupted()  # runs a killed process left behind show as "interrupted"
    return store


def _release_manager(mgr: RunManager) -> None:
    mgr.shutdown(timeout=20, wait_for_exit=False)  # a cleared cache stops its runs, not leaks


@st.cache_resource(show_spinner=False, on_release=_release_manager)
def _manager() -> RunManager:
    return RunManager(_store())


def store() -> RunStore:
    """The run store, or a clear message (naming the file) and a stopped page."""
    try:
        return _store()
    except StoreError as e:
        st.error(f"The run store cannot be opened: {e}")
        st.stop()


def list_runs() -> list[RunRecord]:
    """Every stored run, newest first; an unreadable row is a message and a stopped page."""
    try:
        return store().list()
    except StoreError as e:
        st.error(f"The runs cannot be listed: {e}")
        st.stop()


def manager() -> RunManager:
    """The process-wide run manager (one training process trains the queued runs)."""
    store()
    return _manager()


def pct(x: float | None, digits: int = 2) -> str:
    """0.9916 -> '99.16 %'; None -> '-'."""
    return "-" if x is None else f"{100 * x:.{digits}f} %"


def duration(seconds: float | None) -> str:
    """Seconds as '1 min 05 s' or '9.8 s'."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    m, s = divmod(int(round(seconds)), 60)
    return f"{m} min {s:02d} s" if m < 60 else f"{m // 60} h {m % 60:02d} min"


def run_label(r: RunRecord) -> str:
    """A run as one line for select boxes."""
    acc = f" · {pct(r.final_test_accuracy)}" if r.final_test_accuracy is not None else ""
    return f"{r.name} · {r.status}{acc} · {r.id}"


def pick_run(runs: list[RunRecord], key: str, label: str = "Run") -> RunRecord | None:
    """A run select box that follows ?run=ID in the URL and writes the choice back."""
    if not runs:
        return None
    ids = [r.id for r in runs]
    wanted = st.query_params.get("run")
    if key not in st.session_state or st.session_state[key] not in ids:
        st.session_state[key] = wanted if wanted in ids else ids[0]
    elif wanted in ids and wanted != st.session_state.get(f"{key}_url"):
        st.session_state[key] = wanted  # the link changed (e.g. "inspect this run")
    by_id = {r.id: r for r in runs}
    chosen = st.selectbox(label, ids, key=key, format_func=lambda i: run_label(by_id[i]))
    st.session_state[f"{key}_url"] = chosen
    st.query_params["run"] = chosen
    return by_id[chosen]


def choose_run(key: str, empty_message: str) -> RunRecord:
    """The run a page shows (?run=ID, else the latest); with no runs, a message and a stop."""
    runs = list_runs()
    if not runs:
        st.info(empty_message)
        st.page_link("pages/train.py", label="Train a network", icon="🏋️")
        st.stop()
    wanted = st.query_params.get("run")
    if wanted and wanted not in {r.id for r in runs}:
        st.warning(f"Run {wanted} is not in the store (it was deleted); showing another run.")
    return pick_run(runs, key=key)


def seed(values: dict) -> None:
    """Give each widget key its starting value when it has none. The key's session value is
    then the widget's state: a widget whose default is rewritten on every run is rebuilt by
    Streamlit at the next change instead, and a browser loses every second edit."""
    for key, value in values.items():
        if key not in st.session_state:
            st.session_state[key] = value
