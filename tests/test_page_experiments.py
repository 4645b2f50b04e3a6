"""The Experiments page through the real app under AppTest, with sweeps on the moons toy set."""

from __future__ import annotations

import json
import os

import pytest
import streamlit as st
from apptest import button, open_page, rerun_until, texts

from nnkit.config import RunConfig
from nnkit.runs import RunStore
from nnkit.training.runner import run_and_store

TINY = RunConfig(dataset="moons", model="mlp-64-64", epochs=2, device="cpu")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_the_page_opens_with_the_form_and_an_estimate():
    at = open_page("experiments")
    assert not at.exception
    said = texts(at)
    assert "4 values × 3 replicates = 12 runs" in said  # weight decay 1e-6 … 1e-3 by default
    assert "all 12 networks at once" in said and "No finished sweep yet" in said
    assert not button(at, "Run").disabled


def test_hintons_preset_fills_the_form_and_shows_the_estimate():
    at = open_page("experiments")
    button(at, "Hinton's weight-decay sweep").click().run()
    assert not at.exception
    assert at.selectbox(key="exp_model").value == "mlp-500-300"
    assert at.number_input(key="exp_epochs").value == 40
    said = texts(at)
    assert "5 values × 3 replicates = 15 runs" in said
    assert "1e-06, 5.62e-06, 3.16e-05, 0.000178, 0.001" in said
    assert "all 15 networks at once" in said and "min" in said  # minutes, not started
    assert not RunStore().list()  # nothing trains before Run


def test_a_two_by_two_sweep_started_from_the_form_finishes(nnkit_home):
    at = open_page("experiments")
    at.selectbox(key="exp_dataset").set_value("moons").run()
    at.number_input(key="exp_epochs").set_value(2)
    at.radio(key="exp_kind").set_value("list").run()
    at.text_input(key="exp_values_text").set_value("0.0001, 0.01")
    at.number_input(key="exp_replicates").set_value(2).run()
    assert "2 values × 2 replicates = 4 runs" in texts(at)
    button(at, "Run").click().run()
    assert not at.exception
    at = rerun_until(at, lambda a: "Sweep finished: 4 runs" in texts(a), timeout=120)
    table = next(d.value for d in at.dataframe if "mean" in d.value.columns)
    assert list(table["weight_decay"].str.replace("★", "").str.strip()) == ["0.0001", "0.01"]
    assert list(table["n"]) == [2, 2]
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert chart["layout"]["xaxis"]["type"] == "log"
    names = [t["name"] for t in chart["data"]]
    assert "replicates" in names and "mean ± std" in names
    assert any(n.startswith("best: ") for n in names)
    runs = RunStore().list()
    assert len(runs) == 4 and {r.status for r in runs} == {"finished"}
    assert len({r.group_name for r in runs}) == 1


def test_compare_shows_only_the_settings_that_differ(nnkit_home):
    store = RunStore()
    first, _ = run_and_store(TINY, store, name="first")
    second, _ = run_and_store(TINY.with_changes(lr=0.05, val_fraction=0.2), store, name="second")
    at = open_page("experiments")
    at.multiselect(key="exp_compare").set_value([first, second]).run()
    assert not at.exception
    diff = next(d.value for d in at.dataframe if "run" in d.value.columns)
    assert set(diff.columns) == {"run", "lr", "val_fraction"}
    assert list(diff["lr"]) == ["0.01", "0.05"]
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    titles = [c["layout"]["title"]["text"] for c in charts]
    assert titles == ["train accuracy", "val accuracy", "test accuracy"]
    assert sorted(t["name"] for t in charts[0]["data"]) == ["first", "second"]


def test_stop_keeps_the_finished_members_and_the_live_view_shows_every_member(nnkit_home):
    """batch_size values train one after another: Stop during the first ends the sweep."""
    at = open_page("experiments")
    at.selectbox(key="exp_dataset").set_value("moons").run()
    at.number_input(key="exp_epochs").set_value(300)
    at.selectbox(key="exp_param").set_value("batch_size").run()
    at.text_input(key="exp_values_text").set_value("64, 128")
    at.number_input(key="exp_replicates").set_value(2).run()
    assert "2 groups one after another" in texts(at)
    button(at, "Run").click().run()
    assert not at.exception
    assert "Training" in texts(at)
    members = next(d.value for d in at.dataframe if "replicate" in d.value.columns)
    assert list(members["batch_size"]) == ["64", "64", "128", "128"]
    store = RunStore()
    rerun_until(at, lambda a: any(r.status == "running" for r in store.list()), timeout=60)
    at = open_page("experiments", reload=True)  # a reload: the sweep goes on, still shown
    assert "Training" in texts(at)
    button(at, "Stop").click().run()
    at = rerun_until(at, lambda a: "Sweep ended: 4 runs" in texts(a), timeout=120)
    runs = store.list()
    statuses = [r.status for r in runs]
    assert statuses.count("stopped") >= 2 and set(statuses) <= {"stopped", "finished"}
    trained = [r for r in runs if r.epochs_done]
    assert trained and all(store.checkpoint_path(r.id).exists() for r in trained)
    assert all(r.pid != os.getpid() for r in trained)  # trained in the training process


def test_a_sweep_ends_as_stopped_when_the_server_shuts_down(nnkit_home):
    at = open_page("experiments")
    at.selectbox(key="exp_dataset").set_value("moons").run()
    at.number_input(key="exp_epochs").set_value(1000)  # minutes: it trains when shut down
    at.radio(key="exp_kind").set_value("list").run()
    at.text_input(key="exp_values_text").set_value("0.0001, 0.01")
    at.number_input(key="exp_replicates").set_value(1).run()
    button(at, "Run").click().run()
    store = RunStore()
    rerun_until(at, lambda a: any(r.epochs_done for r in store.list()), timeout=60)
    st.cache_resource.clear()  # what a server shutting down does: the queue stops its jobs
    until_ended = [store.get(r.id) for r in store.list()]
    assert {r.status for r in until_ended} == {"stopped"}
    assert all("app shut down" in r.message for r in until_ended)
    assert all(store.checkpoint_path(r.id).exists() for r in until_ended)
    (job,) = store.list_jobs("sweep")
    assert job.status == "stopped" and job.spec["values"] == [0.0001, 0.01]
