"""nnkit's dashboard: navigation only; each page is a thin view over the nnkit library."""

import streamlit as st

from pages import ui

st.set_page_config(page_title="nnkit", page_icon=":material/psychology:", layout="wide")
who = ui.signed_in()  # alone: you; in a class: nothing shows before the code and a name
if who is None:
    st.stop()

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
if who.role != "solo":
    pages["Class"] = [st.Page("pages/leaderboard.py", title="Leaderboard",
                              icon=":material/leaderboard:")]
    if who.teaches:
        pages["Class"].append(st.Page("pages/classroom.py", title="Teacher",
                                      icon=":material/school:"))
    with st.sidebar:
        st.caption(f"Signed in as **{ui.plain(who.name)}**"
                   + (" (teacher)" if who.teaches else ""))
        ui.seed({"everyone": who.teaches})
        st.toggle("Classmates' runs too", key="everyone",
                  help="Show everyone's runs on Train, Runs, Inspect, Weights and Draw "
                       "(readable; only yours can be changed).")
        st.button("Sign out", key="sign_out", on_click=ui.sign_out)
st.navigation(pages).run()
