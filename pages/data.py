"""Data: what the network learns from: sample images, how many per class, pixel statistics and
what normalization does to them; the toy 2-D sets as points; your own images added as a zip."""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from nnkit import data, metrics, paths, plots, toy, userdata
from nnkit.imagefolder import DEFAULT_LIMITS
from nnkit.training.status import is_active
from pages import ui

GALLERY = 30
SCALE = 3


@st.cache_resource(show_spinner="Loading the training images…", max_entries=2)
def _train_split(name: str, root: str) -> tuple[torch.Tensor, torch.Tensor]:
    return data.load_split(name, train=True, root=root)


@st.cache_data(show_spinner="Computing pixel statistics…", max_entries=8)
def _pixel_counts(name: str, root: str) -> np.ndarray:
    """How many training pixels take each value 0..255, per channel (C, 256)."""
    x, _ = _train_split(name, root)
    return data.pixel_histogram(x).numpy()


def reshuffle() -> None:
    st.session_state.data_seed += 1


def fmt(values) -> str:
    return ", ".join(f"{v:.4f}" for v in values)


def toy_view(name: str, info: data.DatasetInfo) -> None:
    """A toy 2-D set as points coloured by class."""
    c1, c2, c3 = st.columns(3)
    n = c1.slider("Points", 50, 5000, 1000, 50, key="toy_size")
    noise = c2.slider("Noise", 0.0, 1.0, 0.2, 0.05, key="toy_noise")
    seed = c3.number_input("Seed", 0, 2**31 - 1, 0, 1, key="toy_seed")
    x, y = toy.make_toy(name, n=n, noise=noise, seed=int(seed))
    st.plotly_chart(plots.toy_points(x, y, info.classes, f"{info.title}: {n} points"),
                    key="toy_points")
    counts = np.bincount(y, minlength=info.num_classes)
    per_class = zip(info.classes, counts, strict=True)
    st.caption("Points per class: " + ", ".join(f"{c}: {k}" for c, k in per_class)
               + ". The network sees the two coordinates as its two inputs.")


def prepare_view(name: str, info: data.DatasetInfo) -> None:
    """The dataset's files are missing: say where they go, offer to fetch them."""
    st.info(f"{info.title} is not on this machine yet (looked in {paths.data_dir()}).")
    if st.button(f"Prepare {info.title}", key="prepare"):
        with st.status(f"Preparing {info.title}…", expanded=True) as status:
            try:
                data.prepare(name, log=st.write)
            except data.DataError as e:
                status.update(label=f"{info.title} could not be prepared", state="error")
                st.error(str(e))
                return
            status.update(label=f"{info.title} is ready", state="complete")
        st.rerun()


def add_view() -> None:
    """Upload an ImageFolder zip, choose its size and test share, and add it as a dataset."""
    cap = DEFAULT_LIMITS.max_upload_bytes // 2**20
    st.markdown("A **zip of an ImageFolder**: one folder per class, each folder's name the "
                "class's name (`cats/001.jpg`, `dogs/002.png`…). nnkit resizes every image, "
                "holds out a share of each class as the test set and stores plain arrays in "
                f"the data folder. At least {userdata.MIN_CLASSES} classes of "
                f"{userdata.MIN_PER_CLASS} images each; up to {cap} MB.")
    upload = st.file_uploader("ImageFolder zip", type=["zip"], key="ud_zip",
                              max_upload_size=cap)
    c1, c2, c3 = st.columns(3)
    name = c1.text_input("Name", key="ud_name", help="a-z, 0-9, - and _; what the command line "
                         "and the runs call it (its title can be changed later)")
    shape = c2.radio("Images become", list(userdata.SHAPES), key="ud_shape",
                     format_func=userdata.SHAPE_TITLES.get, horizontal=True,
                     help="28×28 grayscale can be drawn on the Draw page; 32×32 keeps colour.")
    share = c3.slider("Test share", 0.05, 0.5, userdata.TEST_SHARE, 0.05, key="ud_share",
                      help="Of each class's images, this share is held out to test on "
                           "(stratified, seed 0).")
    if st.button("Add dataset", key="ud_add", type="primary", disabled=upload is None):
        try:
            with st.spinner("Reading and resizing the images…"):
                s = userdata.add(name.strip(), upload.getvalue(), shape=shape, test_share=share,
                                 owner=ui.person().id)
        except userdata.UserDataError as e:
            st.error(ui.plain(str(e)))
            return
        st.session_state.data_pick = s.info.name  # shown once the page runs again
        st.rerun()


def may_change(s: userdata.Summary) -> bool:
    """Alone, or the teacher, or whoever added it in a class."""
    me = ui.person()
    return me.role in ("solo", "teacher") or (bool(s.owner) and me.id == s.owner)


def user_view(name: str) -> None:
    """What a user dataset holds, what was left out, and rename / delete."""
    s = userdata.summary(name)
    shape = " × ".join(map(str, s.info.input_shape[1:])) + (" colour" if s.info.input_shape[0]
                                                            == 3 else " grayscale")
    st.caption(f"Your own images: {len(s.info.classes)} classes, {shape}, "
               f"{sum(s.train_counts):,} training and {sum(s.test_counts):,} test images "
               f"({s.test_share:.0%} of each class held out). Name: `{name}`.")
    st.dataframe({"class": list(s.info.classes), "train": list(s.train_counts),
                  "test": list(s.test_counts)}, hide_index=True, key="ud_counts")
    if s.skipped:
        st.warning(ui.plain(f"{s.skipped} file(s) were skipped: not images that can be read "
                            f"(e.g. {', '.join(s.skipped_examples)})."))
    if s.ignored:
        st.caption(f"{s.ignored} file(s) outside any class folder were ignored.")
    if not may_change(s):
        return
    with st.popover("Rename or delete", key="ud_manage"):
        title = st.text_input("Title", s.info.title, key=f"ud_title_{name}")
        if st.button("Rename", key="ud_rename"):
            try:
                userdata.rename(name, title)
                st.rerun()
            except userdata.UserDataError as e:
                st.error(ui.plain(str(e)))
        busy = sum(is_active(r.status) for r in ui.store().list(dataset=name))
        sure = st.checkbox("Delete its files (runs trained on it keep their records)",
                           key="ud_sure")
        if st.button("Delete", key="ud_delete", disabled=not sure):
            try:
                userdata.delete(name, in_use=busy)
            except userdata.UserDataError as e:
                st.error(ui.plain(str(e)))
                return
            st.session_state.pop("data_name", None)
            st.rerun()


st.title("Data")
with st.expander("Add your own images", icon=":material/upload:"):
    add_view()
names = data.names()
if "data_pick" in st.session_state:  # a dataset just added
    st.session_state.data_name = st.session_state.pop("data_pick")
if st.session_state.get("data_name") not in names:  # deleted, here or elsewhere
    st.session_state.pop("data_name", None)
name = st.selectbox("Dataset", names, key="data_name", format_func=lambda n: data.info(n).title)
info = data.info(name)
if info.source == "user":
    user_view(name)
if info.kind == "toy":
    toy_view(name, info)
    st.stop()
if not data.is_prepared(name):
    prepare_view(name, info)
    st.stop()
root = str(paths.data_dir())
try:
    x, y = _train_split(name, root)  # (N, C, H, W) uint8, (N,)
    counts = _pixel_counts(name, root)  # (C, 256)
except data.DataError as e:
    st.error(str(e))
    st.stop()
mean, std = data.pixel_stats(torch.from_numpy(counts))
n, c, h, w = x.shape

m = st.columns(4)
m[0].metric("Training images", f"{n:,}")
m[1].metric("Image size", f"{h} × {w}" + (" × 3" if c == 3 else ""))
m[2].metric("Pixel mean", fmt(mean), help="On the 0..1 scale, over every training pixel.")
m[3].metric("Pixel std", fmt(std))

# --- a gallery of random training images ---------------------------------------------------------
if "data_seed" not in st.session_state:
    st.session_state.data_seed = 0
head, button = st.columns([4, 1])
head.subheader(f"{GALLERY} random training images")
button.button("Reshuffle", on_click=reshuffle, key="reshuffle")
gen = torch.Generator().manual_seed(st.session_state.data_seed)
idx = torch.randperm(n, generator=gen)[:GALLERY]
st.image(plots.pictures(x[idx].numpy(), SCALE, 3), width=SCALE * w + 6,
         caption=[f"#{i} {info.classes[int(y[i])]}" for i in idx.tolist()])
st.caption(f"Sample {st.session_state.data_seed} (each image's index and label).")

# --- classes -----------------------------------------------------------------------------------
hist = metrics.class_histogram(y, info.num_classes)
st.plotly_chart(plots.class_counts(hist.tolist(), info.classes,
                                   f"Training images per class ({n:,} in all)"),
                key="class_counts")

# --- what normalization does -------------------------------------------------------------------
st.subheader("What normalization does")
st.markdown(f"Before training, every pixel becomes **(x − mean) / std**: pixel values are "
            f"divided by 255, then the dataset mean ({fmt(info.mean)}) is subtracted and the "
            f"result divided by its std ({fmt(info.std)}). Inputs centred on 0 with spread 1 "
            "make the first layer's gradients well scaled.")
i = st.number_input("Image", 0, n - 1, int(idx[0]), 1, key="norm_image")
channel = " (red channel)" if c == 3 else ""
before = x[i, 0].float().numpy() / 255.0  # (H, W) in [0, 1]
after = (before - info.mean[0]) / info.std[0]
a, b = st.columns(2)
a.plotly_chart(plots.image_values(before, f"before{channel}: {before.min():.3f} … "
                                          f"{before.max():.3f}"), key="norm_before")
b.plotly_chart(plots.image_values(after, f"after{channel}: {after.min():.3f} … "
                                         f"{after.max():.3f}"), key="norm_after")
values = np.arange(256) / 255.0
a.plotly_chart(plots.value_histogram(values, counts[0], f"All training pixels before{channel}",
                                     "pixel value / 255"), key="hist_before")
shifted = (values - info.mean[0]) / info.std[0]
b.plotly_chart(plots.value_histogram(shifted, counts[0], f"… and after{channel}",
                                     "(x − mean) / std", color="#16a34a"), key="hist_after")
n_mean, n_std = data.pixel_stats(torch.from_numpy(counts[:1]))
st.caption(f"After: mean {round((n_mean[0] - info.mean[0]) / info.std[0], 3) + 0.0:.3f}, std "
           f"{n_std[0] / info.std[0]:.3f} (the shape of the histogram does not change, only "
           "its position and scale).")
