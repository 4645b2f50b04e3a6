"""The Runs page through the real app under AppTest, over tiny real runs on the moons toy set."""

from __future__ import annotations

import json

import pytest
from apptest import button, open_page, texts

from nnkit.config import RunConfig
from nnkit.runs import RunStore
from nnkit.training.runner import run_and_store

TINY = RunConfig(dataset="moons", model="mlp-64-64", epochs=2, device="cpu")


@pytest.fixture
def two_runs(nnkit_home, one_torch_thread) -> dict[str, str]:
    """Two real 2-epoch moons runs in this test's NNKIT_HOME: name -> id."""
    store = RunStore()
    return {name: run_and_store(cfg, store, name=name)[0]
            for name, cfg in (("first", TINY), ("second", TINY.with_changes(val_fraction=0.2)))}


def _pick(at, run_id: str):
    """Choose the run the one-run actions work on, and rerun."""
    next(s for s in at.selectbox if s.label.startswith("Run")).set_value(run_id)
    return at.run()


def test_an_empty_store_says_so_and_links_to_train():
    at = open_page("runs")
    assert not at.exception
    assert "No runs yet" in texts(at)
    assert [p.proto.page for p in at.get("page_link")][0].endswith("train")
    assert not at.dataframe


def test_two_runs_fill_the_table_and_selected_runs_overlay(two_runs):
    at = open_page("runs")
    assert not at.exception
    table = at.dataframe[0].value
    assert sorted(table["name"]) == ["first", "second"]
    assert dict(zip(table["name"], table["id"], strict=True)) == two_runs
    assert list(table["status"]) == ["finished", "finished"]
    assert table["final test acc"].between(50, 100).all()  # percent
    labels = [d.label for d in at.download_button]
    assert "Metrics per epoch (.csv)" in labels and "Loss per step (.csv)" in labels
    assert "Checkpoint (.pt)" in labels and "ONNX model (.onnx)" in labels

    at.session_state[at.dataframe[0].key] = {"selection": {"rows": [0, 1], "columns": []}}
    at.run()
    assert not at.exception
    [chart] = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert sorted(t["name"] for t in chart["data"]) == ["first", "second"]
    assert "Val accuracy" in at.segmented_control[0].options  # "second" holds out 20 %
    at.segmented_control[0].set_value("train_loss").run()
    [chart] = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert chart["layout"]["title"]["text"] == "train loss" and len(chart["data"]) == 2
    assert not at.warning


def test_the_filters_keep_matching_runs(two_runs):
    at = open_page("runs")
    at.text_input(key="runs_filter").set_value("SEC").run()  # any case, name/model/id
    assert list(at.dataframe[0].value["name"]) == ["second"]
    at.text_input(key="runs_filter").set_value(two_runs["first"][-6:]).run()
    assert list(at.dataframe[0].value["name"]) == ["first"]
    at.text_input(key="runs_filter").set_value("").run()
    at.multiselect(key="runs_status").select("finished").run()
    assert len(at.dataframe[0].value) == 2
    at.text_input(key="runs_filter").set_value("no such run").run()
    assert not at.exception and not at.dataframe
    assert "No run matches" in texts(at)


def test_rename_through_the_widgets(two_runs):
    run_id = two_runs["first"]
    at = _pick(open_page("runs"), run_id)
    at.text_input(key=f"name_{run_id}").set_value("   ")
    button(at, "Rename").click().run()
    assert "cannot be empty" in texts(at)
    assert RunStore().get(run_id).name == "first"

    at.text_input(key=f"name_{run_id}").set_value("wide and shallow")
    button(at, "Rename").click().run()
    assert not at.exception
    assert RunStore().get(run_id).name == "wide and shallow"
    assert "wide and shallow" in list(at.dataframe[0].value["name"])


def test_delete_needs_confirmation_and_removes_the_run_and_its_folder(two_runs):
    run_id = two_runs["second"]
    folder = RunStore().run_dir(run_id)
    assert folder.exists()
    at = _pick(open_page("runs"), run_id)
    assert button(at, "Delete").disabled  # not before "yes, delete"
    at.checkbox(key=f"confirm_delete_{run_id}").check().run()
    button(at, "Delete").click().run()
    assert not at.exception
    assert RunStore().get(run_id) is None and not folder.exists()
    assert list(at.dataframe[0].value["name"]) == ["first"]
    assert "Deleted" in texts(at)


def test_an_active_run_shows_its_status_and_the_page_watches_it():
    RunStore().create_run(TINY, name="waiting", status="queued")  # this live process owns it
    at = open_page("runs")
    assert not at.exception
    assert list(at.dataframe[0].value["status"]) == ["queued"]
    assert "updates by itself" in texts(at)


def test_a_damaged_store_row_is_a_message_not_a_traceback():
    store = RunStore()
    store.update(store.create_run(TINY, name="broken", status="finished"), config="{\"bogus\": 1}")
    at = open_page("runs")
    assert not at.exception
    assert any("unreadable config" in e.value for e in at.error)


def test_unreadable_metrics_are_named_and_the_run_can_still_be_renamed(two_runs):
    import sqlite3

    at = open_page("runs")  # the store is open; then its per-epoch table goes missing
    with sqlite3.connect(RunStore().path) as db:
        db.execute("DROP TABLE epochs")
    at.run()
    assert not at.exception
    assert any("The metrics cannot be read" in e.value for e in at.error)
    run_id = two_runs["first"]
    at = _pick(at, run_id)
    assert not at.exception
    at.text_input(key=f"name_{run_id}").set_value("renamed anyway")
    button(at, "Rename").click().run()
    assert RunStore().get(run_id).name == "renamed anyway"


def test_a_finished_run_offers_its_onnx_model_for_netron(two_runs):
    at = _pick(open_page("runs"), two_runs["first"])
    assert not at.exception
    [onnx_button] = [d for d in at.download_button if d.label == "ONNX model (.onnx)"]
    assert "Netron (https://netron.app)" in onnx_button.help
    store = RunStore()
    store.checkpoint_path(two_runs["first"]).unlink()  # a run without one is offered none
    at = open_page("runs")
    at = _pick(at, two_runs["first"])
    assert "ONNX model (.onnx)" not in [d.label for d in at.download_button]
    assert "No checkpoint" in texts(at)
