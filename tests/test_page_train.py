"""The Train page through the real app under AppTest: form, validation, URL, live run, controls."""

from __future__ import annotations

import subprocess
import sys
import time

from apptest import ROOT, button, open_page, rerun_until, texts

from nnkit.runs import RunStore


def _select(at, label: str, value) -> None:
    next(s for s in at.selectbox if s.label == label).set_value(value)


def _number(at, label: str):
    return next(n for n in at.number_input if n.label == label)


def test_page_loads_with_the_default_model_summary():
    at = open_page("train")
    assert not at.exception
    assert "Parameters: 18,474" in texts(at)  # fast-cnn, the MNIST default
    assert button(at, "Train").disabled is False


def test_the_form_draws_without_importing_torch(tmp_path):
    """torch takes ~3 s of a 2-core CPU to import: the first page must not wait for it."""
    probe = (
        "import sys\n"
        "from apptest import open_page, texts\n"
        "at = open_page('train')\n"
        "assert not at.exception, at.exception\n"
        "assert 'Parameters: 18,474' in texts(at)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision')))\n")
    env = {"NNKIT_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", probe], cwd=str(ROOT / "tests"), env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_tiny_run_started_through_the_form_finishes_and_is_stored():
    at = open_page("train")
    _select(at, "Dataset", "moons")
    _select(at, "Model", "mlp-64-64")
    _number(at, "Epochs").set_value(3)
    at.run()
    assert "Parameters: 4,482" in texts(at)  # 2-64-64-2
    button(at, "Train").click().run()
    at = rerun_until(at, lambda a: "finished 3 epochs" in texts(a))
    [run] = RunStore().list()
    assert run.status == "finished" and run.epochs_done == 3
    assert run.config.dataset == "moons" and run.config.epochs == 3
    assert at.query_params["run"] == [run.id] or at.query_params["run"] == run.id


def test_pause_resume_and_stop_buttons_change_the_status():
    at = open_page("train", {"dataset": "moons", "model": "mlp-64-64", "epochs": "1000",
                             "toy_size": "20000", "batch_size": "32", "schedule": "none"})
    button(at, "Train").click().run()
    [run] = RunStore().list()
    at = rerun_until(at, lambda a: RunStore().get(run.id).status == "running"
                     and len(RunStore().steps(run.id)) > 0)
    button(at, "Pause").click().run()
    at = rerun_until(at, lambda a: any(b.label == "Resume" for b in a.button))
    assert RunStore().get(run.id).status == "paused"
    time.sleep(0.3)  # a step already under way when the pause arrived may still be written
    steps_then = len(RunStore().steps(run.id))
    time.sleep(1.5)  # paused: the step count must not move (the writer flushes each second)
    assert len(RunStore().steps(run.id)) == steps_then
    button(at, "Resume").click().run()
    at = rerun_until(at, lambda a: any(b.label == "Pause" for b in a.button))
    button(at, "Stop").click().run()
    at = rerun_until(at, lambda a: "stopped" in texts(a))
    assert RunStore().get(run.id).status == "stopped"


def test_the_form_folds_away_while_its_run_trains_and_comes_back_to_queue_another():
    long = {"dataset": "moons", "model": "mlp-64-64", "epochs": "1000", "toy_size": "20000",
            "batch_size": "32", "schedule": "none"}
    at = open_page("train", long)
    button(at, "Train").click().run()
    [first] = RunStore().list()
    assert not any(s.label == "Dataset" for s in at.selectbox)  # folded: the live view only
    # what is training, in one line
    assert "moons · mlp-64-64 · adamw lr 0.01 · batch 32 · 1000 epochs" in texts(at)
    button(at, "Set up another run").click().run()
    _number(at, "Epochs").set_value(2)
    at.run()
    assert button(at, "Fold the form away")
    button(at, "Train").click().run()
    second = next(r for r in RunStore().list() if r.id != first.id)
    assert second.status == "queued" and second.config.epochs == 2
    assert not any(s.label == "Dataset" for s in at.selectbox)  # folded again, on the new run
    assert "Queued: 1 job(s) ahead" in texts(at)
    [watch] = [p for p in at.get("page_link") if "training now" in p.proto.label]
    assert first.id in watch.proto.query_string  # a link to the run ahead, to watch it
    button(at, "Stop").click().run()  # the queued one: it never starts
    at.query_params["run"] = first.id  # a link to the first one, still training
    at.run()
    button(at, "Stop").click().run()
    at = rerun_until(at, lambda a: RunStore().get(first.id).status == "stopped"
                     and "stopped" in texts(a))
    assert RunStore().get(second.id).status == "stopped"
    assert not any(s.label == "Dataset" for s in at.selectbox)  # the results, not the form
    assert button(at, "Set up another run")


def test_the_url_fills_the_form_and_garbage_falls_back_with_a_notice():
    at = open_page("train", {"model": "mlp-500-300", "lr": "0.05", "epochs": "oops"})
    assert _number(at, "Learning rate").value == 0.05
    assert _number(at, "Epochs").value == 1  # the default
    assert "Parameters: 545,810" in texts(at)
    assert any("epochs" in w.value for w in at.warning)


def test_a_custom_mlp_with_a_bad_width_is_refused_next_to_the_field():
    at = open_page("train", {"model": "custom"})
    next(t for t in at.text_input if t.label == "Dense hidden widths").set_value("128, abc")
    at.run()
    assert any("hidden" in e.value for e in at.error)
    assert button(at, "Train").disabled


def test_copy_as_python_shows_the_model():
    at = open_page("train")
    assert not at.code  # the script is written only when its popover opens
    at.session_state["copy_python"] = True  # the popover's open state (AppTest cannot click it)
    at.run()
    code = "\n".join(c.value for c in at.code)
    assert "nn.Conv2d(1, 16, kernel_size=5" in code and "OneCycleLR" in code
