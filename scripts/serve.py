"""Start the dashboard: `streamlit run app.py`, with app.py's st.navigation as the only navigation.

Streamlit still honours its legacy `pages/` auto-discovery until the first run of app.py calls
st.navigation; a deep link such as /train opened first after a start would run pages/train.py
on its own (no navigation, no layout). Turning the legacy flag off before the server starts
makes every URL go through app.py.
"""

import sys
from pathlib import Path

from streamlit.runtime.pages_manager import PagesManager
from streamlit.web import cli

ROOT = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    PagesManager.uses_pages_directory = False
    sys.argv = ["streamlit", "run", str(ROOT / "app.py"), *sys.argv[1:]]
    sys.exit(cli.main())
