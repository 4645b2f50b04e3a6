"""`python -m nnkit sweep` as a real subprocess, offline, on the moons toy set."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # training processes or a cluster: scheduled first

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 180  # seconds; a hang fails the test instead of blocking the suite
EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def nnkit(home: Path, *args: str) -> subprocess.CompletedProcess:
    """Run `python -m nnkit ARGS` offline with its own nnkit folder, on one thread."""
    env = {**os.environ, "NNKIT_HOME": str(home), "NNKIT_DATA": str(home / "data"),
           "NNKIT_OFFLINE": "1", "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "nnkit", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT)


def test_sweep_prints_a_table_and_json_last(tmp_path):
    proc = nnkit(tmp_path, "sweep", "--dataset", "moons", "--model", "mlp-64-64",
                 "--param", "weight_decay", "--values", "1e-4,1e-2", "--replicates", "2",
                 "--epochs", "2", "--name", "cli sweep")
    assert proc.returncode == EXIT_OK, proc.stderr
    lines = proc.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    assert result["param"] == "weight_decay" and result["name"] == "cli sweep"
    assert result["batched"] is True and result["seconds"] > 0
    assert [r["value"] for r in result["results"]] == [1e-4, 1e-2]
    for r in result["results"]:
        assert r["n"] == 2 and 0.5 <= r["mean"] <= 1.0 and 0.0 <= r["std"] <= 0.5
    assert result["best"] in (1e-4, 1e-2) and len(result["runs"]) == 4
    assert lines[0].split() == ["weight_decay", "mean", "std", "n", "replicates"]
    row = lines[1].split()  # value, mean, std, n, then each replicate
    assert float(row[0]) == 1e-4 and int(row[3]) == 2 and len(row) == 6
    assert float(row[1]) == round(result["results"][0]["mean"], 4)
    assert "all 4 networks at once" in proc.stderr
    assert proc.stderr.count(": finished, test ") == 4  # one line per member

    listed = nnkit(tmp_path, "runs", "list")
    assert listed.returncode == EXIT_OK
    assert listed.stdout.count("cli sweep: weight_decay=") == 4  # every member is a run


def test_sweep_over_batch_size_with_a_range(tmp_path):
    proc = nnkit(tmp_path, "sweep", "--dataset", "moons", "--model", "mlp-128",
                 "--param", "batch_size", "--range", "log:64:128:2", "--replicates", "1",
                 "--epochs", "1")
    assert proc.returncode == EXIT_OK, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [r["value"] for r in result["results"]] == [64, 128]
    assert [r["std"] for r in result["results"]] == [0.0, 0.0]  # n = 1
    assert result["batched"] is False


def test_sweep_refuses_bad_values_with_a_message(tmp_path):
    proc = nnkit(tmp_path, "sweep", "--dataset", "moons", "--param", "lr", "--values", "0.1,x")
    assert proc.returncode == EXIT_ERROR
    assert "values: must be numbers separated by commas" in proc.stderr
    proc = nnkit(tmp_path, "sweep", "--dataset", "moons", "--param", "momentum",
                 "--values", "0.5")
    assert proc.returncode == EXIT_USAGE and "invalid choice: 'momentum'" in proc.stderr
    proc = nnkit(tmp_path, "sweep", "--dataset", "moons", "--param", "lr",
                 "--range", "log:0:1:3")
    assert proc.returncode == EXIT_ERROR and "log range needs start and stop above 0" in proc.stderr
