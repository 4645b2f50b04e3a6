"""The teacher's view: the class code, the caps, who is here, and every job in the queue."""

import pandas as pd
import streamlit as st

from nnkit.classroom.people import CAP_RANGES, Caps
from pages import ui

st.title("Teacher")
room, who = ui.classroom(), ui.person()
if room is None or not who.teaches:
    st.info("This page is the teacher's: sign in with the teacher code.")
    st.stop()
mgr, store = ui.manager(), ui.store()
st.markdown(f"Class code for students: **`{room.code}`** · the queue takes people in turn "
            "(whoever started a job least recently goes next).")

st.subheader("Caps for students")
caps = room.caps()
ui.seed({f"cap_{k}": getattr(caps, k) for k in CAP_RANGES})
with st.form("caps"):
    c1, c2, c3 = st.columns(3)
    labels = {"queued": "Jobs waiting or training, per person", "epochs": "Epochs per run",
              "train_images": "Training images per run"}
    values = {}
    for col, (key, (low, high)) in zip((c1, c2, c3), CAP_RANGES.items(), strict=True):
        values[key] = col.number_input(labels[key], min_value=low, max_value=high, step=1,
                                       key=f"cap_{key}")
    if st.form_submit_button("Save caps", type="primary"):
        try:
            room.set_caps(who, Caps(**{k: int(v) for k, v in values.items()}))
        except ValueError as e:
            st.error(str(e))
        else:
            st.success("Saved: new runs are checked against these caps.")


@st.fragment(run_every=3.0)
def queue_and_people() -> None:
    names = room.names()
    jobs = sorted((j for j in mgr.jobs() if j.active), key=lambda j: mgr.queue_position(j.id))
    st.subheader(f"Queue ({len(jobs)})")
    if not jobs:
        st.caption("Nothing waits or trains.")
    for job in jobs:
        ahead = mgr.queue_position(job.id)
        c1, c2 = st.columns([6, 1])
        place = "training" if ahead == 0 else f"{ahead} ahead of it"
        c1.text(f"{names.get(job.owner, 'no one')} · {job.kind} · {job.name} · {place}")
        c2.button("Stop", key=f"teacher_stop_{job.id}", on_click=mgr.stop_job, args=(job.id,))

    st.subheader(f"People ({len(names)})")
    runs = store.all_runs()
    rows = []
    for p in room.people():
        theirs = [r for r in runs if r.owner == p.id]
        best = max((r.best_test_accuracy or 0 for r in theirs), default=0) or None
        rows.append({"name": p.name, "role": p.role, "runs": len(theirs),
                     "waiting or training": sum(1 for j in jobs if j.owner == p.id),
                     "best test accuracy": ui.pct(best)})
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    st.caption("Every run is on the Runs page (turn on \"Classmates' runs too\" in the sidebar): "
               "you can stop, rename or delete any of them.")


queue_and_people()
