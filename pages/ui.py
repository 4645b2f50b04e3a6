"""What every page shares: the run store and run manager (process-wide) as the person signed
in may use them, who that is, and small helpers."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from nnkit import datainfo
from nnkit.classroom import people
from nnkit.classroom.access import NotAllowed, OwnedManager, OwnedStore
from nnkit.classroom.people import SOLO, ClassRoom, Person, SignInError
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


@st.cache_resource(show_spinner=False)
def _classroom() -> ClassRoom | None:
    """The class this server was started for (./start.sh --class), or None: one person."""
    return people.from_env(_store().path.parent)


class Guarded:
    """Another object's methods, each turning a StoreError (a damaged, full or unreadable run
    store) into a message on the page and a stopped script run: the one path by which pages
    use the store and the manager. Off the script's thread the error goes on up: threads never
    call Streamlit."""

    # A damaged file of one run is the caller's to name, and the page goes on without it.
    PER_RUN_FILES = frozenset({"load_checkpoint", "load_arrays"})

    def __init__(self, target, what: str) -> None:
        """A refused change (NotAllowed: not this person's run, beyond the class's caps) is
        shown the same way."""
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
            except (StoreError, NotAllowed) as e:
                if get_script_run_ctx(suppress_warning=True) is None:
                    raise
                st.error(f"{self._what}: {e}" if isinstance(e, StoreError) else plain(e))
                st.stop()

        return call


def _raw_store() -> RunStore:
    try:
        return _store()
    except StoreError as e:
        st.error(f"The run store cannot be opened: {e}")
        st.stop()


def store() -> OwnedStore:
    """The run store as this person may use it (reads; renaming their own runs), guarded: an
    error is a clear message (naming the file), not a traceback. Its list() holds their own
    runs, or everyone's when the sidebar's "Classmates' runs too" is on."""
    raw, room, who = _raw_store(), classroom(), person()
    owned = OwnedStore(who, raw, _manager(), names=room.names if room else None,
                       everyone=st.session_state.get("everyone", False))
    return Guarded(owned, "The run store could not be used")  # type: ignore[return-value]


def list_runs() -> list[RunRecord]:
    """The runs this page shows, newest first; an unreadable row is a message and a stop."""
    return store().list()


def manager() -> OwnedManager:
    """The process-wide run manager (one training process trains the queued runs) as this
    person may use it, guarded like the store: a run that cannot be queued, or that is not
    theirs to change, is a message, not a traceback."""
    raw, room = _raw_store(), classroom()
    return Guarded(OwnedManager(person(), raw, _manager(), caps=room.caps if room else None,
                                names=room.names if room else None),
                   "The run could not be queued or changed")  # type: ignore[return-value]


# --- who is here ------------------------------------------------------------------------
TOKEN_COOKIE = "nnkit_token"
_COOKIE_JS = """
export default function(component) {
  const { data } = component;
  const age = data.token ? 60 * 60 * 24 * 30 : 0;
  document.cookie = `TOKEN=${data.token || ""}; path=/; max-age=${age}; SameSite=Strict`;
}
""".replace("TOKEN", TOKEN_COOKIE)
_cookie = st.components.v2.component("nnkit_token_cookie", js=_COOKIE_JS)


def classroom() -> ClassRoom | None:
    """The class (its people, codes and caps), or None when nnkit serves one person."""
    try:
        return _classroom()
    except ValueError as e:
        st.error(str(e))
        st.stop()


def person() -> Person:
    """Who uses this session: SOLO alone; in a class the signed-in person (a reload or a
    second tab finds them again by the token their browser keeps), else a stop."""
    room = classroom()
    if room is None:
        return SOLO
    who = st.session_state.get("nnkit_person") or signed_in()
    if who is None:  # app.py's gate drew the form already; a page run on its own draws it here
        st.stop()
    return who


def signed_in() -> Person | None:
    """app.py's gate. Alone: SOLO, but only for a browser on this computer (serving others
    needs a class). In a class: the person, or None after drawing the sign-in form."""
    room = classroom()
    if room is None:
        if not _local(st.context.ip_address):
            st.error("This nnkit serves one person, on the computer it runs on. To let others "
                     "in, start it as a class: `./start.sh --class` (it prints a class code).")
            st.stop()
        return SOLO
    token = st.session_state.get("nnkit_token") or st.context.cookies.get(TOKEN_COOKIE)
    who = st.session_state.get("nnkit_person") or room.person(token)
    if who is not None:
        st.session_state.nnkit_person = who
        if st.session_state.get("nnkit_token"):  # signed in in this session: keep the token
            with st.sidebar:
                _cookie(data={"token": st.session_state.nnkit_token}, key="nnkit_cookie")
        return who
    _sign_in_form(room)
    return None


def _local(address: str | None) -> bool:
    if not address:  # AppTest, or the address is unknown: nothing to check against
        return True
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return address == "localhost"


def _sign_in_form(room: ClassRoom) -> None:
    st.title("nnkit · class")
    st.write("Enter the class code your teacher gave you, and the name your classmates will "
             "see next to your runs.")
    with st.form("sign_in"):
        code = st.text_input("Class code", key="signin_code", type="password")
        name = st.text_input("Your name", key="signin_name", max_chars=people.NAME_MAX)
        go = st.form_submit_button("Join the class", type="primary")
    if go:
        try:
            who, token = room.sign_in(code, name, key=st.context.ip_address or "")
        except SignInError as e:
            st.error(str(e))
            return
        st.session_state.nnkit_person, st.session_state.nnkit_token = who, token
        st.rerun()


def sign_out() -> None:
    """Forget this browser's sign-in (the person's runs stay)."""
    room = classroom()
    if room is not None:
        room.sign_out(st.session_state.get("nnkit_token")
                      or st.context.cookies.get(TOKEN_COOKIE))
    for key in ("nnkit_person", "nnkit_token", "everyone"):
        st.session_state.pop(key, None)


def plain(text: str) -> str:
    """Text as it is in markdown: every character that markdown or HTML would read escaped."""
    return "".join("\\" + c if c in "\\`*_{}[]()#+-.!|<>~$&:" else c for c in str(text))


def dataset_title(name: str) -> str:
    """What a dataset is called on the pages; a deleted user dataset by its name."""
    try:
        return datainfo.info(name).title
    except datainfo.DataError:
        return f"{name} (deleted)"


def dataset_shape(name: str) -> tuple[int, ...]:
    """A dataset's input shape; () for a deleted user dataset."""
    try:
        return datainfo.info(name).input_shape
    except datainfo.DataError:
        return ()


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
    wanted = st.query_params.get("run")
    if wanted and wanted not in {r.id for r in runs}:
        rec = store().get(wanted)  # a classmate's run, opened by its link: readable
        if rec is not None:
            runs = [rec, *runs]
        else:
            st.warning(f"Run {wanted} is not in the store (it was deleted, or the link is "
                       "wrong); showing another run.")
    if not runs:
        st.info(empty_message)
        st.page_link("pages/train.py", label="Train a network", icon=":material/fitness_center:")
        st.stop()
    return pick_run(runs, key=key)


ONNX_HELP = ("The trained model as ONNX: pixel / 255 in, class probabilities out. Open it in "
             "Netron (https://netron.app) to see its layers, or run it with onnxruntime.")


def onnx_file(store: OwnedStore, run_id: str) -> Callable[[], bytes]:
    """The run's model as ONNX bytes, built only when its download button is clicked."""
    def build() -> bytes:
        from nnkit.export import onnx_bytes  # torch loads here, not when the page draws

        return onnx_bytes(store, run_id)

    return build


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


def owner_name(owner: str) -> str:
    """The display name of who started a run ('' alone)."""
    room = classroom()
    if room is None:
        return ""
    return room.names().get(owner, "someone no longer in the class") if owner else "no one"


def where_jobs_train(always: bool = False) -> None:
    """Where the queue's jobs train, when a Ray cluster is set (NNKIT_RAY_ADDRESS): a warning
    when it cannot be used (jobs then train in the local process), else a caption. Without
    the setting nothing is shown unless `always` (Home)."""
    from nnkit.jobs import executors  # no Ray import: a plain string

    if not executors.address() and not always:
        return
    status = executors.cluster_status()
    if status.trouble:
        st.warning(status.text[:1].upper() + status.text[1:] + ".", icon=":material/cloud_off:")
    else:
        st.caption(status.text[:1].upper() + status.text[1:] + ".")
