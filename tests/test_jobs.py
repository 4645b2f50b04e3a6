"""Every kind of job through the one queue and its training process, for real: a sweep, a
Catalogue experiment and the palindrome study train in the child process, stop cleanly with
what they learned kept, and end cleanly when the app shuts down."""

from __future__ import annotations

import os

import pytest
import torch

from nnkit.config import RunConfig
from nnkit.jobs.manager import POLICY, RunManager
from nnkit.jobs.protocol import SHUTDOWN_REASON
from nnkit.training import sweep
from tests.test_manager import until

pytestmark = pytest.mark.slow  # training processes or a cluster: scheduled first

SHORT = RunConfig(dataset="moons", model="mlp-64-64", epochs=2, toy_size=400)
LONG = SHORT.with_changes(epochs=1000, toy_size=20000, batch_size=16, schedule="none")
STUDY = {"lengths": [3, 5], "hidden": 8, "epochs": 2, "n_train": 256, "n_test": 64}


def test_a_sweep_trains_batched_in_the_training_process_and_keeps_its_settings(mgr, store):
    spec = sweep.SweepSpec(SHORT, "lr", (0.05, 0.2), replicates=2, name="lr sweep")
    job_id = mgr.submit_sweep(spec)
    assert mgr.wait(job_id, timeout=120)
    job, rec = mgr.job(job_id), store.get_job(job_id)
    assert job.status == rec.status == "finished" and len(rec.runs) == 4
    runs = [store.get(r) for r in rec.runs]
    assert all(r.status == "finished" and r.pid != os.getpid() for r in runs)
    assert all("at once" in r.device for r in runs)  # the four members trained as one batch
    assert all(store.checkpoint_path(r.id).exists() for r in runs)
    assert rec.spec["param"] == "lr" and rec.spec["replicates"] == 2
    loaded = sweep.load_sweep(store, "lr sweep")  # from the job record, not the run names
    assert [(m.value, m.replicate) for m in loaded.members] == [
        (0.05, 0), (0.05, 1), (0.2, 0), (0.2, 1)]
    assert [m.run_id for m in loaded.members] == rec.runs
    assert all(mgr.live(r).status == "finished" and mgr.live(r).history for r in rec.runs)


def test_stopping_a_sweep_keeps_what_its_members_learned_and_skips_the_rest(mgr, store):
    # batch_size changes the steps: two groups, one after another
    spec = sweep.SweepSpec(LONG, "batch_size", (16, 32), replicates=1, name="bs sweep")
    job_id = mgr.submit_sweep(spec)
    first, second = store.get_job(job_id).runs
    until(lambda: (mgr.live(first).step or 0) > 20, what="the first member to train")
    assert mgr.live(second).status == "queued"
    mgr.stop(first)  # a member's Stop stops its job
    assert mgr.wait(job_id, timeout=60)
    assert mgr.job(job_id).status == store.get_job(job_id).status == "stopped"
    a, b = store.get(first), store.get(second)
    assert a.status == "stopped" and store.checkpoint_path(first).exists()
    assert b.status == "stopped" and b.message == "stopped before it started"
    assert mgr.live(second).status == "stopped"


def test_a_catalogue_experiment_is_one_job_and_a_shutdown_ends_it_cleanly(store):
    mgr = RunManager(store)
    runs = [("a", LONG), ("b", LONG.with_changes(lr=0.05))]
    job_id = mgr.submit_group("exp", "catalogue:exp", [(f"exp · {n}", c) for n, c in runs])
    ids = store.get_job(job_id).runs
    assert [store.get(r).group_name for r in ids] == ["catalogue:exp"] * 2
    until(lambda: (mgr.live(ids[0]).step or 0) > 20, what="training")
    assert mgr.queue_position(ids[1]) == 0  # its job trains: both members at once
    mgr.shutdown(timeout=60)
    assert store.get_job(job_id).status == "stopped"
    for r in ids:
        rec = store.get(r)
        assert rec.status == "stopped" and SHUTDOWN_REASON in rec.message
        assert store.checkpoint_path(r).exists()


def test_the_palindrome_study_trains_in_the_training_process_with_its_models_kept(mgr, store):
    job_id = mgr.submit_study("palindrome", STUDY)
    assert mgr.wait(job_id, timeout=120)
    rec = store.get_job(job_id)
    assert rec.status == "finished" and rec.pid != os.getpid()
    assert [r["length"] for r in rec.result["results"]] == [3, 5]
    assert [r["length"] for r in mgr.job(job_id).results] == [3, 5]
    for n in (3, 5):
        state = torch.load(store.job_dir(job_id) / f"length_{n}.pt", weights_only=True)
        assert state["rnn.weight_hh_l0"].shape == (8, 8)


def test_stopping_the_study_keeps_the_epochs_done(mgr, store):
    job_id = mgr.submit_study("palindrome", {**STUDY, "lengths": [3, 5, 7], "epochs": 10_000})
    until(lambda: (mgr.job(job_id).epoch or 0) >= 2, what="two epochs of length 3")
    mgr.stop_job(job_id)
    assert mgr.wait(job_id, timeout=60)
    rec = store.get_job(job_id)
    assert rec.status == "stopped" and "1 of 3" in rec.message
    (done,) = rec.result["results"]
    assert done["length"] == 3 and done["status"] == "stopped" and len(done["epochs"]) >= 2
    assert (store.job_dir(job_id) / "length_3.pt").exists()


def test_jobs_wait_their_turn_and_a_queued_one_is_dropped_at_once(mgr, store):
    first = mgr.submit(LONG)
    job_id = mgr.submit_sweep(sweep.SweepSpec(SHORT, "lr", (0.1,), replicates=1))
    study = mgr.submit_study("palindrome", STUDY)
    assert [mgr.queue_position(i) for i in (first, job_id, study)] == [0, 1, 2]
    assert "a sweep" in POLICY and "one job trains at a time" in POLICY
    mgr.stop_job(job_id)
    assert mgr.wait(job_id, timeout=1)  # dropped, not at its turn
    (member,) = store.get_job(job_id).runs
    assert store.get(member).status == "stopped" and mgr.queue_position(study) == 1
    mgr.stop(first)
    assert mgr.wait(study, timeout=120) and store.get_job(study).status == "finished"


def test_recovery_marks_jobs_left_running_by_a_dead_app_as_interrupted(store):
    job_id = store.create_job("sweep", "s", {"param": "lr"}, status="running")
    store.update_job(job_id, pid=2**22 + 12345)  # no such process
    store.recover_interrupted()
    assert store.get_job(job_id).status == "interrupted"


def test_people_take_turns_a_queues_five_b_one_and_b_starts_second(mgr, store):
    a = [mgr.submit(SHORT, name=f"a{i}", owner="A") for i in range(5)]
    b = mgr.submit(SHORT, name="b", owner="B")
    assert mgr.queue_position(b) == 1  # behind A's first, which trains (or is about to)
    assert [mgr.queue_position(r) for r in a[1:]] == [2, 3, 4, 5]
    for run_id in (*a, b):
        assert mgr.wait(run_id, timeout=180)
    started = sorted((*a, b), key=lambda r: mgr.live(r).started)
    assert started == [a[0], b, *a[1:]]
