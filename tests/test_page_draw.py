"""The Draw page under AppTest, with a small real MNIST run and drawings injected for the canvas
(in AppTest the canvas component has no browser and returns nothing)."""

from __future__ import annotations

import shutil
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from apptest import ROOT, button, fresh_server, rerun_until, texts
from streamlit.testing.v1 import AppTest

from nnkit import data, paths, predict
from nnkit.config import RunConfig
from nnkit.predict import Predictor
from nnkit.preprocess import render_on_canvas, render_strokes
from nnkit.runs import RunStore
from nnkit.training.runner import run_and_store

REAL_DATA = paths.data_dir()  # read at import, before any fixture moves NNKIT_HOME/NNKIT_DATA
PAGE = ROOT / "pages" / "draw.py"
SMALL_RUN = RunConfig(train_subset=3000, epochs=1)  # real MNIST, a few seconds on a CPU
TEST_DIGITS = (0, 1, 2)  # MNIST test images 7, 2, 1: the first ones, clearly written


class FakeCanvas:
    """What st_canvas returns: .image_data is None before the first stroke, else RGBA."""

    def __init__(self, image: np.ndarray | None) -> None:
        self.image_data, self.json_data = image, None


def draw(monkeypatch, image: np.ndarray | None) -> None:
    """Make the page's `from streamlit_drawable_canvas import st_canvas` return this drawing."""
    fake = types.ModuleType("streamlit_drawable_canvas")
    fake.st_canvas = lambda **kwargs: FakeCanvas(image)
    monkeypatch.setitem(sys.modules, "streamlit_drawable_canvas", fake)


def open_draw(timeout: float = 120) -> AppTest:
    """pages/draw.py, run once on a fresh server (runs' models and indexes stay cached)."""
    fresh_server()
    return AppTest.from_file(str(PAGE), default_timeout=timeout).run()


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory) -> Path:
    """An nnkit home holding one small real MNIST run (trained once for the module)."""
    home = tmp_path_factory.mktemp("draw-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NNKIT_DATA", str(REAL_DATA))
        mp.setenv("NNKIT_OFFLINE", "1")
        run_and_store(SMALL_RUN, RunStore(home / "runs.sqlite"))
    return home


@pytest.fixture
def home(nnkit_home, monkeypatch) -> Path:
    """This test's NNKIT_HOME (empty store) with the real MNIST files."""
    monkeypatch.setenv("NNKIT_DATA", str(REAL_DATA))
    return nnkit_home


@pytest.fixture
def seeded(home, trained_home) -> RunStore:
    """This test's store, a copy of the trained one."""
    shutil.copytree(trained_home, home, dirs_exist_ok=True)
    return RunStore()


@pytest.fixture(scope="module")
def test_images() -> tuple[np.ndarray, np.ndarray]:
    x, y = data.load_split("mnist", train=False, root=REAL_DATA)
    return x[:, 0].numpy(), y.numpy()


def test_a_drawn_digit_is_classified_with_every_view(seeded, test_images, monkeypatch):
    images, labels = test_images
    [run] = seeded.list()
    p = Predictor.load(seeded, run.id)
    for i in TEST_DIGITS:
        drawing = render_on_canvas(images[i], scale=0.7, shift=(30, -40), stroke=1)
        assert int(np.argmax(p.probs(p.preprocess(drawing).model_input))) == labels[i]
        draw(monkeypatch, drawing)
        at = open_draw()
        assert not at.exception, at.exception
        page = texts(at)
        assert f"Prediction: **{labels[i]}** · confidence" in page
        assert "Not sure" not in page
        assert "doesn't look like a digit" not in page and "Likeness to its training" in page
        bars = at.get("plotly_chart")
        assert len(bars) == 1
        for header in ("What the network sees", "Where the network looked", "Nearest training"):
            assert header in page
    assert [o for o in at.multiselect[0].value] == [run.id]


def test_empty_canvas_asks_for_a_digit(seeded, monkeypatch):
    draw(monkeypatch, None)
    at = open_draw()
    assert not at.exception
    assert any("Draw a digit" in i.value for i in at.info)
    assert "Prediction:" not in texts(at)
    draw(monkeypatch, np.zeros((280, 280, 4), np.uint8))  # drawn, then undone to nothing
    at = open_draw()
    assert any("Draw a digit" in i.value for i in at.info)


@pytest.mark.parametrize(("name", "grey", "reason"), [
    ("full ink", np.full((280, 280), 255, np.uint8), "ink covers 100%"),
    ("tiny dot", np.pad(np.full((12, 12), 255, np.uint8), ((100, 168), (200, 68))), "tiny"),
])
def test_nonsense_is_declined_politely(seeded, monkeypatch, name, grey, reason):
    draw(monkeypatch, np.dstack([grey, grey, grey, np.full_like(grey, 255)]))
    at = open_draw()
    assert not at.exception, at.exception
    [warning] = [w for w in at.warning if "Not sure" in w.value]  # beside "not a digit"
    assert reason in warning.value and "%" in warning.value


def test_a_scribble_never_raises(seeded, monkeypatch):
    rng = np.random.default_rng(0)
    grey = ((rng.random((280, 280)) > 0.7) * 255).astype(np.uint8)
    draw(monkeypatch, grey)
    at = open_draw()
    assert not at.exception, at.exception
    assert "Prediction:" in texts(at)


def test_naive_resize_comparison(seeded, test_images, monkeypatch):
    images, _ = test_images
    draw(monkeypatch, render_on_canvas(images[0], scale=0.5, shift=(60, 60)))
    at = open_draw()
    assert "Naive:" not in texts(at)
    at.toggle(key="naive").set_value(True).run()
    assert not at.exception
    assert "Naive: **" in texts(at) and "Preprocessed: **7**" in texts(at)


def copy_run(store: RunStore, run_id: str, name: str) -> str:
    """A second finished run with the same weights, ranked below the first."""
    copy = store.create_run(SMALL_RUN, name=name)
    store.update(copy, status="finished", best_test_accuracy=0.5)
    store.run_dir(copy).mkdir(parents=True)
    shutil.copy(store.checkpoint_path(run_id), store.checkpoint_path(copy))
    return copy


def test_several_runs_side_by_side_and_a_deleted_one_is_dropped(seeded, test_images,
                                                                 monkeypatch):
    images, _ = test_images
    [first] = seeded.list()
    second = copy_run(seeded, first.id, "copy of the small run")
    draw(monkeypatch, render_on_canvas(images[0]))
    at = open_draw()
    assert at.multiselect[0].value == [first.id]  # the best MNIST run
    at.multiselect[0].set_value([first.id, second]).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["id"]) == [first.id, second] and list(table["predicted"]) == ["7", "7"]

    seeded.delete(second)
    at.run()
    assert not at.exception, at.exception
    assert any(second in w.value and "dropped" in w.value for w in at.warning)
    assert at.multiselect[0].value == [first.id]
    assert "Prediction: **7**" in texts(at)


def test_a_damaged_checkpoint_is_named(seeded, test_images, monkeypatch):
    images, _ = test_images
    [run] = seeded.list()
    seeded.checkpoint_path(run.id).write_bytes(b"garbage, not a checkpoint")
    draw(monkeypatch, render_on_canvas(images[0]))
    at = open_draw()
    assert not at.exception
    assert any(str(seeded.checkpoint_path(run.id)) in e.value for e in at.error)


def test_no_runs_one_click_trains_then_classifies(home, test_images, monkeypatch):
    images, labels = test_images
    draw(monkeypatch, render_on_canvas(images[0]))
    at = open_draw()
    assert not at.exception
    train = button(at, "Train the fast-cnn default (about 15 s)")
    assert "Prediction:" not in texts(at)
    monkeypatch.setattr(predict, "FIRST_RUN", SMALL_RUN)  # the real default takes longer
    train.click().run()
    assert not at.exception, at.exception
    assert len(RunStore().list()) == 1
    at = rerun_until(at, lambda a: "Prediction:" in texts(a), timeout=300, every=1.0)
    assert f"Prediction: **{labels[0]}**" in texts(at)
    assert not any(b.label.startswith("Train the fast-cnn") for b in at.button)


def test_a_link_with_a_run_classifies_with_that_run(seeded, test_images, monkeypatch):
    images, _ = test_images
    [first] = seeded.list()
    second = copy_run(seeded, first.id, "the linked run")
    draw(monkeypatch, render_on_canvas(images[0]))
    fresh_server()
    at = AppTest.from_file(str(PAGE), default_timeout=120)
    at.query_params["run"] = second  # as the Train page's "Draw digits for it" links
    at.run()
    assert not at.exception
    assert at.multiselect[0].value == [second]  # not the best run, the linked one
    assert "by the linked run" in texts(at)
    at.multiselect[0].set_value([first.id, second]).run()  # a choice after the link holds
    assert at.multiselect[0].value == [first.id, second]


STAR = [[(0.5 + 0.4 * np.cos(np.radians(-90 + 144 * i)),
          0.5 + 0.4 * np.sin(np.radians(-90 + 144 * i))) for i in range(6)]]  # one stroke


def test_a_star_is_no_digit_the_network_knows_and_the_page_says_why(seeded, monkeypatch):
    draw(monkeypatch, render_strokes(STAR))
    at = open_draw()
    assert not at.exception, at.exception
    page = texts(at)
    assert "This doesn't look like a digit the network knows" in page
    assert "Prediction: **" in page and len(at.get("plotly_chart")) == 1  # still its guess
    assert "this drawing is beyond that" in page
