"""Start the dashboard: `streamlit run app.py`, with app.py's st.navigation as the only navigation.

Alone it serves 127.0.0.1 only. `--class` serves a class on the network instead: it sets
NNKIT_CLASS with a class code (yours with `--code`, else a new one) and a teacher code, prints
both and the address students open, and listens on every interface (`--server.address`
chooses another). Serving beyond 127.0.0.1 without `--class` is refused.

Streamlit still honours its legacy `pages/` auto-discovery until the first run of app.py calls
st.navigation; a deep link such as /train opened first after a start would run pages/train.py
on its own (no navigation, no layout). Turning the legacy flag off before the server starts
makes every URL go through app.py.
"""

import argparse
import ipaddress
import os
import socket
import sys
import threading
import time
from pathlib import Path

from streamlit.runtime.pages_manager import PagesManager
from streamlit.web import cli

ROOT = Path(__file__).resolve().parents[1]


def _warm_imports() -> None:
    """Import the pages' libraries while the browser loads Streamlit's JavaScript, not during
    the first page's script run. Waits for the server to be up first: imports hold the
    interpreter lock, so run beside the server's own start they only delayed it.
    torch is not among them: the Train page draws without it (the training process has it)."""
    from streamlit.runtime import Runtime, RuntimeState

    while not (Runtime.exists() and Runtime.instance().state != RuntimeState.INITIAL):
        time.sleep(0.05)
    sys.path.insert(0, str(ROOT))
    import streamlit.emojis  # noqa: F401  (st.set_page_config checks its icon against them)

    import nnkit.jobs.manager  # noqa: F401  (imported now, not in the first page's run)
    from nnkit import plots

    # plotly builds its validators on the first figure (~0.4 s): not during the first run
    plots.loss_per_step([(1, 1.0), (2, 0.5)], steps_per_epoch=2).to_json()
    plots.epoch_curves([{"epoch": 1, "train_accuracy": 0.5}], "accuracy", "mnist").to_json()


def _address(args: list[str]) -> str | None:
    """The --server.address among Streamlit's arguments (or its environment variable)."""
    for i, arg in enumerate(args):
        if arg.startswith("--server.address="):
            return arg.split("=", 1)[1]
        if arg == "--server.address" and i + 1 < len(args):
            return args[i + 1]
    return os.environ.get("STREAMLIT_SERVER_ADDRESS")


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address == "localhost"


def _lan_ip() -> str:
    """This machine's address on its network (no packet is sent), else its name."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))
            return s.getsockname()[0]
    except OSError:
        return socket.gethostname()


def _setup_class(args: list[str]) -> list[str]:
    """Read nnkit's own options; set up a class if asked; return Streamlit's arguments."""
    parser = argparse.ArgumentParser(prog="./start.sh", description="Start the nnkit dashboard.",
                                     allow_abbrev=False)
    parser.add_argument("--class", dest="classroom", action="store_true",
                        help="serve a class on the network: students sign in with a code")
    parser.add_argument("--code", help="the class code students type (default: a new one)")
    parser.add_argument("--teacher-code", help="the code that signs in the teacher "
                        "(default: a new one, printed here only)")
    ours, rest = parser.parse_known_args(args)
    address = _address(rest)
    if not ours.classroom:
        if ours.code or ours.teacher_code:
            parser.error("--code and --teacher-code go with --class")
        if address and not _loopback(address):
            sys.exit(f"nnkit serves one person on this computer (127.0.0.1): --server.address "
                     f"{address} would let anyone on the network in. To serve a class, start it "
                     "with `./start.sh --class` (it prints a class code to hand out).")
        return rest
    sys.path.insert(0, str(ROOT))
    from nnkit.classroom.people import new_code, normalise_code

    code = normalise_code(ours.code) if ours.code else new_code(6)
    teacher = normalise_code(ours.teacher_code) if ours.teacher_code else new_code(12)
    if len(code) < 4 or len(teacher) < 8 or code == teacher:
        sys.exit("a class code needs 4 or more letters or digits, the teacher code 8 or more, "
                 "and the two must differ")
    os.environ.update(NNKIT_CLASS="1", NNKIT_CLASS_CODE=code, NNKIT_TEACHER_CODE=teacher)
    if address is None:
        address = "0.0.0.0"
        rest = [*rest, "--server.address", address]
    port = next((a.split("=", 1)[1] for a in rest if a.startswith("--server.port=")), "8501")
    host = _lan_ip() if address in ("0.0.0.0", "::") else address
    print(f"nnkit class: students open http://{host}:{port} and enter the class code {code}\n"
          f"nnkit class: your teacher code (keep it to yourself): {teacher}", flush=True)
    return rest


if __name__ == "__main__":
    streamlit_args = _setup_class(sys.argv[1:])
    PagesManager.uses_pages_directory = False
    threading.Thread(target=_warm_imports, name="nnkit-warm-imports", daemon=True).start()
    sys.argv = ["streamlit", "run", str(ROOT / "app.py"), *streamlit_args]
    sys.exit(cli.main())
