"""'Copy as Python': the generated script is standalone and trains the configured model."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from nnkit import models, paths
from nnkit.codegen import model_code, script
from nnkit.config import RunConfig


@pytest.mark.parametrize("preset", ["fast-cnn", "lenet5", "mlp-500-300", "vgg-small"])
def test_the_generated_model_has_the_presets_parameter_count(preset):
    from torch import nn  # the generated code's only namespace

    shape = (3, 32, 32) if preset == "vgg-small" else (1, 28, 28)
    spec = models.preset(preset)
    net = eval(model_code(spec, shape, 10), {"nn": nn})  # our own generated code
    assert sum(p.numel() for p in net.parameters()) == models.num_params(
        models.build_model(spec, shape, 10))


@pytest.mark.smoke
def test_the_script_trains_on_its_own(tmp_path):
    code = script(RunConfig(train_subset=3000, epochs=1))
    assert "nnkit" not in code.split('"""', 2)[2]  # imports torch and torchvision only
    (tmp_path / "train.py").write_text(code)
    (tmp_path / "data").symlink_to(paths.data_dir())  # smoke: the real MNIST; no download
    env = {k: v for k, v in os.environ.items() if not k.startswith("NNKIT")}
    out = subprocess.run([sys.executable, "train.py"], cwd=tmp_path, env=env, text=True,
                         capture_output=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    accuracy = float(re.search(r"test accuracy ([\d.]+)", out.stdout).group(1))
    assert accuracy > 0.9, out.stdout
