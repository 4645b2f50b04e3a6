"""Start the dashboard: `streamlit run app.py`, with app.py's st.navigation as the only navigation.

Streamlit still honours its legacy `pages/` auto-discovery until the first run of app.py calls
st.navigation; a deep link such as /train opened first after a start would run pages/train.py
on its own (no navigation, no layout). Turning the legacy flag off before the server starts
makes every URL go through app.py.
"""

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

    import nnkit.jobs.manager  # noqa: F401
    from nnkit import plots

    # plotly builds its validators on the first figure (~0.4 s): not during the first run
    plots.loss_per_step([(1, 1.0), (2, 0.5)], steps_per_epoch=2).to_json()
    plots.epoch_curves([{"epoch": 1, "train_accuracy": 0.5}], "accuracy", "mnist").to_json()


if __name__ == "__main__":
    PagesManager.uses_pages_directory = False
    threading.Thread(target=_warm_imports, name="nnkit-warm-imports", daemon=True).start()
    sys.argv = ["streamlit", "run", str(ROOT / "app.py"), *sys.argv[1:]]
    sys.exit(cli.main())
