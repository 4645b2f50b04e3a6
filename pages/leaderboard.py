"""The class's leaderboard: each person's best run per dataset, ranked by test accuracy."""

import streamlit as st

from nnkit.classroom.leaderboard import best_runs
from pages import ui

st.title("Leaderboard")
room = ui.classroom()
if room is None:
    st.info("The leaderboard ranks the people of a class: start nnkit with `./start.sh --class`.")
    st.stop()
who = ui.person()
st.caption("Each person's best run per dataset, by test accuracy (the best epoch's). "
           "Open a run to see its confusion matrix and mistakes.")


@st.fragment(run_every=5.0)
def boards() -> None:
    runs = ui.store().all_runs()  # everyone's: the board is the class's
    tables = best_runs(runs, room.names())
    if not tables:
        st.info("No run has a test accuracy yet. Train one: it shows here when it has.")
        return
    widths = [0.6, 3, 1.4, 1.6, 4, 1]
    for dataset, entries in tables.items():
        st.subheader(dataset)
        for col, head in zip(st.columns(widths), ("rank", "name", "test accuracy", "model",
                                                  "settings", ""), strict=True):
            col.caption(head)
        for e in entries:  # names as plain text (st.text): no markdown or HTML from anyone
            c = st.columns(widths, vertical_alignment="center")
            c[0].text(str(e.rank))
            c[1].text(e.name + (" (you)" if e.owner == who.id else ""))
            c[2].text(ui.pct(e.accuracy))
            c[3].text(e.model)
            c[4].text(e.settings)
            c[5].page_link("pages/inspect.py", label="Inspect", icon=":material/search:",
                           query_params={"run": e.run_id})


boards()
