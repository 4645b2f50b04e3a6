"""What every page shares: the run store and run manager (process-wide), and small helpers."""

from __future__ import annotations

import functools

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from nnkit.jobs.manager import RunManager
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


class Guarded:
    """Another object's methods, each turning a StoreError (a damaged, full or unreadable run
    store) into a message on the page and a stopped script run: the one path by which pages
    use the store and the manager. Off the script's thread the error goes on up: threads never
    call Streamlit."""

    # A damaged file of one run is the caller's to name, and the page goes on without it.
    PER_RUN_FILES = frozenset({"load_checkpoint", "load_arrays"})

    def __init__(self, target, what: str) -> None:
        self._target, self._what = target, what
        self.unguarded = target  # for a page that names each failure where it happens

    def __getattr__(self, name: str):
        value = getattr(self._target, name)
        if not callable(value) or name in self.PER_RUN_FILES:
            return value

        @functools.wraps(value)
        def call(*args, **kwargs):
            try:
                return value(*args, **kwargs)
            except StoreError as e:
                if get_script_run_ctx(suppress_warning=True) is None:
                    raise
                st.error(f"{self._what}: {e}")
                st.stop()

        return call


def store() -> RunStore:
    """The run store, guarded: an error is a clear message (naming the file), not a traceback."""
    try:
        return Guarded(_store(), "The run store could not be used")  # type: ignore[return-value]
    except StoreError as e:
        st.error(f"The run store cannot be opened: {e}")
        st.stop()


def list_runs() -> list[RunRecord]:
    """Every stored run, newest first; an unreadable row is a message and a stopped page."""
    return store().list()


def manager() -> RunManager:
    """The process-wide run manager (one training process trains the queued runs), guarded
    like the store: a run that cannot be queued is a message, not a traceback."""
    store()
    return Guarded(_manager(), "The run could not be queued or changed")  # type: ignore


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
        st.page_link("pages/train.py", label="Train a network", icon=":material/fitness_center:")
        st.stop()
    wanted = st.query_params.get("run")
    if wanted and wanted not in {r.id for r in runs}:
        st.warning(f"Run {wanted} is not in the store (it was deleted, or the link is wrong); "
                   "showing another run.")
    return pick_run(runs, key=key)


def seed(values: dict) -> None:
    """Give each widget key its starting value when it has none. The key's session value is
    then the widget's state: a widget whose default is rewritten on every run is rebuilt by
    Streamlit at the next change instead, and a browser loses every second edit."""
    for key, value in values.items():
        if key not in st.session_state:
            st.session_state[key] = value


def still_css(key: str) -> str:
    """CSS that stops Streamlit animating updates inside the container with this key.

    Streamlit animates every update: the progress bar slides for 0.5 s, a redrawn element
    fades back in over 1 s. Once a second, and with no GPU, Chromium paints those frames in
    software: in a toy app the progress bar alone went from ~8 % of a core to ~3 % without
    them, CPU that a 2-core machine otherwise takes from training."""
    return (f"<style>.st-key-{key}, .st-key-{key} * "
            "{transition: none !important; animation: none !important}</style>")
