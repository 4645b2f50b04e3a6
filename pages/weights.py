"""Weights: what the first layer learned (every unit as a picture), replayed epoch by epoch and
live while a run trains; a unit up close with the test images that excite it; a CNN's maps."""

from __future__ import annotations

import streamlit as st
import torch

from nnkit import data, inspect, paths, plots
from nnkit.runs import RunRecord, StoreError
from nnkit.templates import template_grid, templates_from_weight
from nnkit.training.runner import load_model
from pages import ui

SNAPSHOT = "first_layer_e"  # per-epoch first-layer copies: <run>/first_layer_eNNN.npz
SCALE = 3


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def _model(run_id: str, mtime: float):
    """The run's model as of its checkpoint (mtime: a new checkpoint reloads it)."""
    return load_model(ui.store(), run_id)


@st.cache_resource(show_spinner="Loading the test set…", max_entries=2)
def _test_split(dataset: str, root: str) -> tuple[torch.Tensor, torch.Tensor]:
    return data.load_split(dataset, train=False, root=root)


@st.cache_data(show_spinner="Finding the images that excite it…", max_entries=64)
def _top(run_id: str, mtime: float, unit: int) -> tuple[list[int], list[float]]:
    """The 9 test images that most excite `unit`, as the page needs them (cached per unit)."""
    model, _, _ = _model(run_id, mtime)
    run = ui.store().get(run_id)
    x, y = _test_split(run.dataset, str(paths.data_dir()))
    bundle = data.DataBundle(data.info(run.dataset), x[:0], y[:0], None, None, x, y,
                             run.config.normalize)  # only its transform is used
    layer = inspect.first_layer(model)  # only the model's part through it needs to run
    idx, act = inspect.top_activating(inspect.truncated_at(model, layer), x, unit, k=9,
                                      layer=layer, transform=bundle.as_float)
    return idx.tolist(), act.tolist()


def snapshot_epochs(run_id: str) -> list[int]:
    """Epochs with a saved first-layer copy, in order."""
    files = ui.store().run_dir(run_id).glob(f"{SNAPSHOT}*.npz")
    return sorted(int(f.stem[len(SNAPSHOT):]) for f in files if f.stem[len(SNAPSHOT):].isdigit())


def templates_figure(weight, info: data.DatasetInfo, title: str, per_tile: bool):
    """Every first-layer unit as one tiled picture (one heatmap however many units)."""
    templates = templates_from_weight(weight, info.input_shape)
    grid = template_grid(templates, per_tile_scale=per_tile)
    pixel = min(16.0, max(1.1, 700 / grid.shape[0]))  # screen pixels per weight
    return plots.weight_grid(grid, title, height=int(grid.shape[0] * pixel + 40)), len(templates)


@st.fragment(run_every=2.0)
def live_templates(run_id: str, info: data.DatasetInfo, per_tile: bool) -> None:
    """The newest first-layer copy the trainer handed over, redrawn every 2 s."""
    live = ui.manager().live(run_id)
    if live is None or not live.active:
        if st.session_state.get("weights_live") == run_id:
            st.session_state.weights_live = None
            st.rerun()  # once: the run ended, redraw the page with its final weights
        return
    st.session_state.weights_live = run_id
    if live.weights is None:
        st.info(f"{live.status}: the first weights arrive a couple of seconds into training.")
        return
    fig, n = templates_figure(live.weights, info, f"Live, step {live.weights_step:,} "
                              f"(epoch {live.epoch}/{live.epochs})", per_tile)
    st.plotly_chart(fig, key="live_templates")


def unit_up_close(run: RunRecord, mtime: float, templates, info: data.DatasetInfo) -> None:
    st.subheader("One unit up close")
    unit = st.number_input("Unit", 0, len(templates) - 1, 0, 1, key="weights_unit",
                           help="Which first-layer unit (0-based).")
    a, b = st.columns([1, 2], gap="large")
    tile = templates[unit]
    if tile.ndim == 2:
        a.plotly_chart(plots.weight_grid(tile, f"unit {unit}: red < 0 < blue", height=300),
                       key="unit_template")
    else:
        grid = template_grid(tile[None])
        a.plotly_chart(plots.weight_grid(grid, f"unit {unit}", height=300), key="unit_template")
    try:
        x, y = _test_split(run.dataset, str(paths.data_dir()))
    except data.DataError as e:
        b.warning(f"The test images are not available: {e}")
        return
    idx, act = _top(run.id, mtime, int(unit))
    b.markdown("**The 9 test images that excite it most**")
    b.image(plots.pictures(x[idx].numpy(), SCALE, 3), width=SCALE * x.shape[-1] + 6,
            caption=[f"#{i} label {info.classes[int(y[i])]} · {v:.2f}"
                     for i, v in zip(idx, act, strict=True)])
    b.caption("The number is the unit's input sum (before its activation function).")


def feature_maps(model, run: RunRecord, info: data.DatasetInfo) -> None:
    st.subheader("Feature maps")
    try:
        x, y = _test_split(run.dataset, str(paths.data_dir()))
    except data.DataError as e:
        st.warning(f"The test images are not available: {e}")
        return
    i = st.number_input("Test image", 0, len(x) - 1, 0, 1, key="weights_image")
    bundle = data.DataBundle(info, x[:0], y[:0], None, None, x, y, run.config.normalize)
    maps = inspect.feature_maps(model, bundle.as_float(x[i:i + 1])[0])
    cols = st.columns([1, *[3] * len(maps)])
    cols[0].image(plots.pictures(x[i:i + 1].numpy(), SCALE), width=SCALE * x.shape[-1],
                  caption=f"#{i} label {info.classes[int(y[i])]}")
    for col, (name, m) in zip(cols[1:], maps, strict=False):
        grid = template_grid(m.numpy(), per_tile_scale=True)
        col.plotly_chart(plots.activation_grid(grid, name, height=300), key=f"maps_{name}")
    st.caption("Each tile is one channel after its activation, on its own scale: bright where "
               "the filter found its pattern.")


st.title("Weights")
store = ui.store()
run = ui.choose_run("weights_run", "No runs yet. Train one on the Train page, then see what "
                   "its first layer learned.")
try:
    info = data.info(run.dataset)
except data.DataError as e:  # a user dataset deleted since this run trained on it
    st.error(f"{ui.plain(run.name)} was trained on {ui.plain(run.dataset)}, which is gone: {e}")
    st.stop()
if info.kind != "image":
    st.info(f"{info.title} has 2 inputs, so each first-layer unit has just 2 weights: no "
            "pictures to show. The Playground draws what such a network learns.")
    st.stop()

per_tile = st.toggle("Scale each unit on its own", key="weights_per_tile",
                     help="Off: one colour scale for all (compare strengths). On: each tile "
                          "uses its full range (see faint patterns).")
live = ui.manager().live(run.id)
if live is not None and live.active:
    live_templates(run.id, info, per_tile)

st.subheader("First layer, epoch by epoch")
epochs = snapshot_epochs(run.id)
if not epochs:
    st.info("No per-epoch copies of the first layer yet: they are saved at the end of each "
            "epoch.")
else:
    epoch = (st.select_slider("Epoch", epochs, value=epochs[-1], key="weights_epoch")
             if len(epochs) > 1 else epochs[0])
    try:
        snap = store.load_arrays(run.id, f"{SNAPSHOT}{epoch:03d}")
        fig, n = templates_figure(snap["weight"], info, f"after epoch {epoch}", per_tile)
        st.plotly_chart(fig, key="templates")
        kind = "filters" if snap["weight"].ndim == 4 else "units"
        st.caption(f"All {n} first-layer {kind}, each in the input's shape: blue where a bright "
                   "pixel pushes the unit up, red where it pushes it down. Faint speckle is "
                   "what is left of the random start.")
    except StoreError as e:
        st.error(f"This epoch's weights cannot be read: {e}")
    except (KeyError, ValueError) as e:
        st.error(f"{store.run_dir(run.id) / f'{SNAPSHOT}{epoch:03d}.npz'}: unusable ({e})")

ckpt_path = store.checkpoint_path(run.id)
if not ckpt_path.exists():
    st.info("No checkpoint yet: the unit and feature-map views need the trained model.")
    st.stop()
mtime = ckpt_path.stat().st_mtime
try:
    model, spec, _ = _model(run.id, mtime)
except StoreError as e:
    st.error(f"The model cannot be loaded: {e}")
    st.stop()
layer = inspect.first_layer(model)
if not epochs:  # an older run without per-epoch copies: its final weights
    fig, _ = templates_figure(layer.weight, info, "final weights", per_tile)
    st.plotly_chart(fig, key="templates")
if isinstance(layer, torch.nn.Linear):
    unit_up_close(run, mtime, inspect.weight_templates(model, info.input_shape), info)
else:
    feature_maps(model, run, info)
