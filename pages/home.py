"""Home: what nnkit is, and what is ready on this machine."""

import streamlit as st

from nnkit import device, paths
from pages import ui

st.title("nnkit")
st.markdown(
    "Train a neural network on MNIST in a few clicks and watch it learn: pick a model and its "
    "hyperparameters, press **Train**, see the curves grow live, then look inside the model — "
    "its confusion matrix, its mistakes, its first-layer weights — and draw a digit for it to "
    "read."
)

# The status needs torch (devices, torchvision's dataset check: ~3 s to import on 2 cores the
# first time), so it is filled in last, into its place here, after the links are drawn.
readiness = st.empty()
readiness.caption("Checking what this machine has ready…")

st.subheader("Start here")
st.page_link("pages/train.py", label="Train a network live", icon=":material/fitness_center:")
st.page_link("pages/inspect.py", label="Open its confusion matrix and its mistakes",
             icon=":material/search:")
st.page_link("pages/weights.py", label="Look at what its first layer learned",
             icon=":material/grid_view:")
st.page_link("pages/draw.py", label="Draw a digit for it to read", icon=":material/edit:")
st.page_link("pages/experiments.py", label="Sweep a hyperparameter with replicates",
             icon=":material/science:")
st.page_link("pages/catalogue.py", label="Rerun the course's experiments",
             icon=":material/menu_book:")
st.page_link("pages/playground.py", label="Watch decision boundaries on 2-D toy sets",
             icon=":material/tune:")
st.page_link("pages/runs.py", label="Compare and manage runs", icon=":material/list_alt:")
st.caption(f"Runs and checkpoints live in {paths.home()}; datasets in {paths.data_dir()}.")
ui.where_jobs_train(always=True)

# Imported and checked before the placeholder is replaced: entering its container clears it,
# and the page would show a blank there for the ~3 s the import takes.
from nnkit import data  # noqa: E402  (torch and torchvision: after the page is drawn)

store = ui.store()
runs = store.list()
prepared = data.is_prepared("mnist")
devs = device.available()
with readiness.container():
    c1, c2, c3 = st.columns(3)
    c1.metric("MNIST", "ready" if prepared else "not prepared yet")
    c2.metric("Device", devs[0].upper() if devs[0] != "cpu" else "CPU",
              help="Training uses CUDA, then MPS, then the CPU, whichever this machine has.")
    c3.metric("Runs stored", len(runs), help=str(store.path))

    if not prepared:
        st.info("MNIST is prepared on first use (about 20 MB). You can do it now:")
        if st.button("Prepare MNIST"):
            with st.status("Preparing MNIST…", expanded=True) as status:
                try:
                    data.prepare("mnist", log=st.write)
                    status.update(label="MNIST is ready", state="complete")
                except data.DataError as e:
                    status.update(label="MNIST could not be prepared", state="error")
                    st.error(str(e))
