"""nnkit's dashboard: navigation only; each page is a thin view over the nnkit library."""

import streamlit as st

st.set_page_config(page_title="nnkit", page_icon=":material/psychology:", layout="wide")

pages = {
    "nnkit": [st.Page("pages/home.py", title="Home", icon=":material/home:", default=True)],
    "Train": [
        st.Page("pages/train.py", title="Train", icon=":material/fitness_center:"),
        st.Page("pages/runs.py", title="Runs", icon=":material/list_alt:"),
    ],
    "Look inside": [
        st.Page("pages/inspect.py", title="Inspect", icon=":material/search:"),
        st.Page("pages/weights.py", title="Weights", icon=":material/grid_view:"),
        st.Page("pages/data.py", title="Data", icon=":material/image:"),
    ],
    "Play": [
        st.Page("pages/draw.py", title="Draw", icon=":material/edit:"),
        st.Page("pages/playground.py", title="Playground", icon=":material/tune:"),
    ],
    "Experiments": [
        st.Page("pages/experiments.py", title="Experiments", icon=":material/science:"),
        st.Page("pages/catalogue.py", title="Catalogue", icon=":material/menu_book:"),
    ],
}
st.navigation(pages).run()
