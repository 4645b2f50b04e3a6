"""The command line, run as a real subprocess: `python -m nnkit ...`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # training processes or a cluster: scheduled first

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 120  # seconds; a hang fails the test instead of blocking the suite

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
PRESET_COUNTS = {"mlp-64-64": "55,050", "mlp-128": "101,770", "mlp-500-300": "545,810",
                 "cnn-10-20": "8,490", "fast-cnn": "18,474", "lenet5": "61,706",
                 "vgg-small": "815,018"}


def nnkit(home: Path, *args: str) -> subprocess.CompletedProcess:
    """Run `python -m nnkit ARGS` offline with its own nnkit folder."""
    env = {**os.environ, "NNKIT_HOME": str(home), "NNKIT_DATA": str(home / "data"),
           "NNKIT_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "nnkit", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One moons run trained through the CLI, shared by the tests that read it back."""
    home = tmp_path_factory.mktemp("cli-home")
    proc = nnkit(home, "train", "--dataset", "moons", "--model", "mlp-64-64", "--epochs", "2",
                 "--lr", "0.05")
    return home, proc


def test_models_lists_presets_with_exact_counts(tmp_path):
    proc = nnkit(tmp_path, "models")
    assert proc.returncode == EXIT_OK, proc.stderr
    rows = {line.split()[0]: line.split()[1] for line in proc.stdout.splitlines()[1:]}
    for name, count in PRESET_COUNTS.items():
        assert rows[name] == count


def test_train_prints_json_last(trained):
    _, proc = trained
    assert proc.returncode == EXIT_OK, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["status"] == "finished" and result["epochs_done"] == 2
    assert 0.0 <= result["test_accuracy"] <= 1.0
    assert result["test_loss"] >= 0.0
    assert result["train_seconds"] > 0 and result["images_per_second"] > 0
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{6}", result["run_id"])
    assert result["num_params"] == 2 * 64 + 64 + 64 * 64 + 64 + 64 * 2 + 2  # 4,482 on 2-D points
    epoch_lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("epoch")]
    assert len(epoch_lines) == 2  # progress goes to stderr, one line per epoch


def test_runs_list_and_show(trained):
    home, proc = trained
    run_id = json.loads(proc.stdout.strip().splitlines()[-1])["run_id"]
    listed = nnkit(home, "runs", "list")
    assert listed.returncode == EXIT_OK, listed.stderr
    rows = [ln for ln in listed.stdout.splitlines() if ln.startswith(run_id)]
    assert len(rows) == 1 and rows[0].split()[1:4] == ["finished", "moons", "mlp-64-64"]
    shown = nnkit(home, "runs", "show", run_id)
    assert shown.returncode == EXIT_OK, shown.stderr
    assert shown.stdout.startswith(run_id) and "status: finished" in shown.stdout
    epochs = [ln.split()[0] for ln in shown.stdout.splitlines() if re.match(r"\s+\d+\s", ln)]
    assert epochs == ["1", "2"]


def test_bad_lr_is_a_usage_error(tmp_path):
    proc = nnkit(tmp_path, "train", "--dataset", "moons", "--lr", "-1")
    assert proc.returncode == EXIT_USAGE
    assert "error: lr: must be a number in (0, 10] (got -1.0)" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_show_unknown_run(tmp_path):
    proc = nnkit(tmp_path, "runs", "show", "nope")
    assert proc.returncode == EXIT_ERROR
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no run 'nope' in ")
    assert "Traceback" not in proc.stderr


def test_runs_export_onnx_writes_what_onnxruntime_reads(trained, tmp_path):
    import numpy as np
    import onnxruntime as ort
    import torch

    from nnkit.runs import RunStore
    from nnkit.training.runner import load_model

    home, proc = trained
    run_id = json.loads(proc.stdout.strip().splitlines()[-1])["run_id"]
    out = tmp_path / "moons.onnx"
    exported = nnkit(home, "runs", "export", run_id, "--onnx", "--out", str(out))
    assert exported.returncode == EXIT_OK, exported.stderr
    assert exported.stdout.strip() == str(out) and "https://netron.app" in exported.stderr
    points = np.array([[0.0, 0.5], [1.0, -0.3], [-1.2, 0.8]], np.float32)  # (3, 2), as they are
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"pixels": points})[0]
    model, _, _ = load_model(RunStore(home / "runs.sqlite"), run_id)
    with torch.no_grad():
        want = model(torch.from_numpy(points)).softmax(1).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_runs_export_of_a_bad_id_or_a_run_without_checkpoint_says_so(tmp_path):
    from nnkit.config import RunConfig
    from nnkit.runs import RunStore

    run_id = RunStore(tmp_path / "runs.sqlite").create_run(RunConfig(dataset="moons"))
    for target, message in (("nope", "error: no run 'nope' in "),
                            (run_id, f"error: run {run_id} (queued) has no checkpoint to export")):
        proc = nnkit(tmp_path, "runs", "export", target, "--onnx")
        assert proc.returncode == EXIT_USAGE
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(message), proc.stderr
        assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert not list(tmp_path.glob("*.onnx")) and not list(ROOT.glob("*.onnx"))


def test_fashion_mnist_offline_says_where_to_put_files(tmp_path):
    proc = nnkit(tmp_path, "train", "--dataset", "fashion-mnist", "--epochs", "1")
    assert proc.returncode == EXIT_ERROR
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert lines[0].startswith("error: Fashion-MNIST is not available")
    folder = tmp_path / "data" / "FashionMNIST" / "raw"
    assert f"Place the standard files under {folder}" in lines[0]


@pytest.mark.parametrize("model, message", [
    ("mlp-64-64", "error: hidden: must be widths like 500,300 (got 'abc')"),
    ("fast-cnn", "error: hidden: only an MLP preset takes --hidden"),
])
def test_bad_hidden_is_a_usage_error_naming_the_field(tmp_path, model, message):
    proc = nnkit(tmp_path, "train", "--dataset", "moons", "--model", model, "--hidden", "abc")
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert proc.stderr.strip().splitlines() == [message] and proc.stdout == ""


def test_a_closed_stdout_ends_quietly(trained):
    home, _ = trained
    env = {**os.environ, "NNKIT_HOME": str(home), "NNKIT_DATA": str(home / "data"),
           "NNKIT_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "nnkit", "runs", "list"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # like `| head` that has already quit: every write meets a closed pipe
    err = proc.stderr.read()
    assert proc.wait(timeout=TIMEOUT) == EXIT_ERROR
    assert err == ""  # no BrokenPipeError traceback, no "Exception ignored"


def test_one_epoch_is_said_in_the_singular(tmp_path):
    proc = nnkit(tmp_path, "train", "--dataset", "moons", "--model", "mlp-64-64", "--epochs", "1",
                 "--lr", "0.05")
    assert proc.returncode == EXIT_OK, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["message"] == "finished 1 epoch"
    assert re.search(r"training images, 1 epoch of \d+ steps\n", proc.stderr)
    assert "finished: finished 1 epoch\n" in proc.stderr
    proc = nnkit(tmp_path, "sweep", "--dataset", "moons", "--model", "mlp-64-64", "--param", "lr",
                 "--values", "0.05", "--replicates", "2", "--epochs", "1")
    assert proc.returncode == EXIT_OK, proc.stderr
    run_id = json.loads(proc.stdout.strip().splitlines()[-1])["runs"][0]
    shown = nnkit(tmp_path, "runs", "show", run_id)
    assert "status: finished  finished 1 epoch, 2 networks at once\n" in shown.stdout
