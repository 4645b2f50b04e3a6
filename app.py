"""nnkit's dashboard: navigation only; each page is a thin view over the nnkit library."""

import streamlit as st

st.set_page_config(page_title="nnkit", page_icon="🧠", layout="wide")

pages = {
    "nnkit": [st.Page("pages/home.py", title="Home", icon="🏠", default=True)],
    "Train": [
        st.Page("pages/train.py", title="Train", icon="🏋️"),
        st.Page("pages/runs.py", title="Runs", icon="📋"),
    ],
    "Look inside": [
        st.Page("pages/inspect.py", title="Inspect", icon="🔍"),
        st.Page("pages/weights.py", title="Weights", icon="🧩"),
        st.Page("pages/data.py", title="Data", icon="🖼️"),
    ],
    "Play": [
        st.Page("pages/draw.py", title="Draw", icon="✏️"),
        st.Page("pages/playground.py", title="Playground", icon="🎛️"),
    ],
    "Experiments": [
        st.Page("pages/experiments.py", title="Experiments", icon="🧪"),
        st.Page("pages/catalogue.py", title="Catalogue", icon="📚"),
    ],
}
st.navigation(pages).run()
