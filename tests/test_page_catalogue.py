"""The Catalogue and Playground pages through the real app under AppTest."""

from __future__ import annotations

import dataclasses
import json
import os
import re

import pytest
import streamlit as st
from apptest import button, open_page, rerun_until, texts

from nnkit import catalogue
from nnkit.runs import RunStore

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _links(at) -> list:
    return [p.proto for p in at.get("page_link")]


def test_catalogue_page_shows_every_experiment_with_its_figure():
    at = open_page("catalogue")
    assert not at.exception
    assert [b.label for b in at.button].count("Run") == len(catalogue.EXPERIMENTS)
    said = texts(at)
    for exp in catalogue.EXPERIMENTS.values():
        assert exp.title in [s.value.split(". ", 1)[-1] for s in at.subheader]
        assert exp.reported in said
    assert "cifar-10-batches-py" in said and "cifar-10-python.tar.gz" in said  # where to put it
    # the sweep links to the Experiments page, or says in words what it does while the app
    # has no such page
    assert ("The Experiments page sweeps a setting" in said
            or any(p.page.endswith("experiments") for p in _links(at)))


def test_moons_experiment_runs_in_the_queue_and_shows_both_boundaries():
    at = open_page("catalogue")
    at.button(key="run_moons").click().run()
    assert not at.exception
    ended = lambda a: (a.button(key="run_moons").label == "Run again"
                       and not a.button(key="run_moons").disabled)
    at = rerun_until(at, ended, timeout=120)
    runs = {r.name: r for r in RunStore().list()}
    exp = catalogue.experiment("moons")
    for label, cfg in exp.runs:
        rec = runs[exp.run_name(label)]
        assert rec.status == "finished" and rec.group_name == exp.group and rec.config == cfg
        assert rec.final_test_accuracy > 0.9
    [table] = [d.value for d in at.dataframe if "our test accuracy" in d.value.columns]
    assert list(table["run"]) == [label for label, _ in exp.runs]
    assert all(s.endswith("%") for s in table["our test accuracy"])
    maps = [c for c in _charts(at) if c["data"][0]["type"] == "heatmap"]
    assert len(maps) == 2
    queries = [p.query_string for p in _links(at)]
    for label, _ in exp.runs:  # each run links to its live view on the Train page
        assert f"run={runs[exp.run_name(label)].id}" in queries


def test_the_palindrome_study_trains_in_the_queue_and_plots_accuracy(monkeypatch):
    small = dataclasses.replace(catalogue.experiment("palindrome"), settings=(
        ("lengths", (3, 4)), ("epochs", 1), ("n_train", 128), ("n_test", 32)))
    monkeypatch.setitem(catalogue.EXPERIMENTS, "palindrome", small)
    at = open_page("catalogue")
    at.button(key="run_palindrome").click().run()
    at = rerun_until(at, lambda a: "finished: 2 lengths trained" in texts(a))
    [fig] = [c for c in _charts(at) if "palindrome length" in c["layout"]["title"]["text"]]
    assert fig["data"][0]["x"] == [3, 4]
    (job,) = RunStore().list_jobs("palindrome")
    assert job.pid != os.getpid()  # the training process trained it
    at = open_page("catalogue", reload=True)  # the result stays after a reload
    assert "finished: 2 lengths trained" in texts(at)
    at = open_page("catalogue")  # and after a restart, read from the store
    assert "finished: 2 lengths trained" in texts(at)


def test_the_palindrome_study_stops_from_the_page_and_on_shutdown(monkeypatch):
    long = dataclasses.replace(catalogue.experiment("palindrome"), settings=(
        ("lengths", (3, 4)), ("epochs", 10_000), ("n_train", 256), ("n_test", 32)))
    monkeypatch.setitem(catalogue.EXPERIMENTS, "palindrome", long)
    at = open_page("catalogue")
    at.button(key="run_palindrome").click().run()
    at = rerun_until(at, lambda a: re.search(r"training length 3 · epoch [1-9]", texts(a)))
    at = open_page("catalogue", reload=True)
    at.button(key="stop_palindrome").click().run()
    at = rerun_until(at, lambda a: "stopped: stopped by the user after 1 of 2" in texts(a))
    store = RunStore()
    (job,) = store.list_jobs("palindrome")
    assert (store.job_dir(job.id) / "length_3.pt").exists()
    at.button(key="run_palindrome").click().run()  # again, and the server shuts down
    rerun_until(at, lambda a: "training length 3 · epoch" in texts(a))
    st.cache_resource.clear()
    newest = store.list_jobs("palindrome")[0]
    assert newest.status == "stopped" and "app shut down" in newest.message


def test_a_catalogue_experiment_is_one_job_that_survives_a_reload_and_stops(monkeypatch):
    exp = catalogue.experiment("moons")
    long = dataclasses.replace(exp, runs=tuple(
        (label, cfg.with_changes(epochs=1000, toy_size=20000)) for label, cfg in exp.runs))
    monkeypatch.setitem(catalogue.EXPERIMENTS, "moons", long)
    at = open_page("catalogue")
    at.button(key="run_moons").click().run()
    store = RunStore()
    rerun_until(at, lambda a: any(r.epochs_done for r in store.list()), timeout=60)
    (job,) = store.list_jobs("experiment")
    assert sorted(store.get(r).name for r in job.runs) == sorted(
        exp.run_name(label) for label, _ in exp.runs)
    at = open_page("catalogue", reload=True)
    at.button(key="stop_moons").click().run()
    at = rerun_until(at, lambda a: a.button(key="run_moons").label == "Run again"
                     and not a.button(key="run_moons").disabled, timeout=60)
    runs = [store.get(r) for r in job.runs]
    assert {r.status for r in runs} == {"stopped"}
    trained = [r for r in runs if r.epochs_done]  # the NumPy run; PyTorch's never started
    assert trained and all(store.checkpoint_path(r.id).exists() for r in trained)
    assert all(r.pid != os.getpid() for r in trained)  # the training process trained it
    assert store.get_job(job.id).status == "stopped"


def test_playground_starts_and_finishes_under_apptest():
    at = open_page("playground")
    assert not at.exception
    assert "Press **Start** to train." in texts(at)
    next(n for n in at.number_input if n.label == "Steps").set_value(300)
    at.run()
    button(at, "Start").click().run()
    at = rerun_until(at, lambda a: "finished: finished 300 steps" in texts(a), timeout=60)
    said = texts(at)
    assert "Step (of 300): 300" in said
    [heat] = [c for c in _charts(at) if c["data"][0]["type"] == "heatmap"]
    assert len(heat["data"]) == 1 + 2 * 2  # the map, train and test points of 2 classes


def test_playground_takes_any_number_of_classes():
    at = open_page("playground")
    next(s for s in at.selectbox if s.label == "Dataset").set_value("gaussians")
    at.run()  # the Classes slider is enabled for gaussians only
    next(s for s in at.slider if s.label == "Classes").set_value(4)
    next(n for n in at.number_input if n.label == "Steps").set_value(50)
    at.run()
    button(at, "Start").click().run()
    at = rerun_until(at, lambda a: "finished: finished 50 steps" in texts(a), timeout=60)
    [heat] = [c for c in _charts(at) if c["data"][0]["type"] == "heatmap"]
    assert len(heat["data"]) == 1 + 2 * 4


def test_playground_refuses_bad_widths_next_to_the_settings():
    at = open_page("playground")
    next(t for t in at.text_input if t.label == "Hidden widths").set_value("16, x")
    at.run()
    assert any("whole numbers" in e.value for e in at.error)
    assert button(at, "Start").disabled
