"""The Runs page's ONNX button in a real Chromium: a click builds the file, and onnxruntime gives
the stored model's class probabilities from it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest
import torch
from harness import ROOT, wait_for_app

from nnkit.runs import RunStore
from nnkit.training.runner import load_model

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def moons_run(server) -> str:
    """One 2-epoch moons run in the server's store, trained by the CLI; its id."""
    env = {**os.environ, "NNKIT_HOME": str(server.home), "NNKIT_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "nnkit", "train", "--dataset", "moons",
                           "--model", "mlp-64-64", "--epochs", "2"], env=env, cwd=ROOT,
                          check=True, capture_output=True, text=True, timeout=300)
    return json.loads(proc.stdout.strip().splitlines()[-1])["run_id"]


def test_the_onnx_button_downloads_a_model_onnxruntime_runs(server, moons_run, page, tmp_path):
    page.goto(f"{server.url}/runs")
    wait_for_app(page)
    button = page.get_by_role("button", name="ONNX model (.onnx)")
    with page.expect_download(timeout=60_000) as download:
        button.click()
    assert download.value.suggested_filename == f"{moons_run}.onnx"
    path = tmp_path / "model.onnx"
    download.value.save_as(path)

    points = np.array([[0.0, 0.5], [1.0, -0.3], [-1.2, 0.8]], np.float32)  # (3, 2)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    [probs] = sess.run(None, {"pixels": points})
    model, _, _ = load_model(RunStore(server.home / "runs.sqlite"), moons_run)
    with torch.no_grad():
        expected = model(torch.from_numpy(points)).softmax(1).numpy()
    np.testing.assert_allclose(probs, expected, atol=1e-5)
