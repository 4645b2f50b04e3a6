"""`python -m nnkit data add|list|rename|delete` as a real subprocess, and a run on the result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from test_userdata import image_folder, make_zip

from nnkit import datainfo
from nnkit.runs import RunStore

ROOT = Path(__file__).resolve().parent.parent
EXIT_OK, EXIT_USAGE = 0, 2


def nnkit(home: Path, *args: str) -> subprocess.CompletedProcess:
    """Run `python -m nnkit ARGS` offline with its own nnkit folder."""
    env = {**os.environ, "NNKIT_HOME": str(home), "NNKIT_DATA": str(home / "data"),
           "NNKIT_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "nnkit", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_add_a_folder_and_a_zip_train_on_it_and_delete(tmp_path):
    # each call imports torch (~3 s of CPU): rename and the rest are tested in-process
    home = tmp_path / "home"
    folder = tmp_path / "shapes"
    for name, raw in image_folder(classes=("circle", "square")).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(raw)
    proc = nnkit(home, "data", "add", "shapes", str(folder))
    assert proc.returncode == EXIT_OK, proc.stderr
    assert "shapes: 2 classes, 16 training and 4 test images (0.2 of each class held out), " \
           "1 x 28 x 28" in proc.stdout
    assert "  circle: 8 train, 2 test" in proc.stdout

    (tmp_path / "pets.zip").write_bytes(make_zip(image_folder()))
    proc = nnkit(home, "data", "add", "pets", str(tmp_path / "pets.zip"), "--shape", "rgb32",
                 "--test-share", "0.3", "--title", "Pets")
    assert proc.returncode == EXIT_OK, proc.stderr
    assert "pets: 3 classes, 21 training and 9 test images (0.3 of" in proc.stdout
    assert datainfo.names(home / "data")[-2:] == ["pets", "shapes"]
    assert datainfo.info("pets", home / "data").title == "Pets"

    proc = nnkit(home, "train", "--dataset", "pets", "--model", "mlp-64-64", "--epochs", "1",
                 "--batch-size", "8", "--no-eval-each-epoch")
    assert proc.returncode == EXIT_OK, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["status"] == "finished" and result["test_accuracy"] is not None

    proc = nnkit(home, "data", "delete", "pets")
    assert proc.returncode == EXIT_OK and "runs trained on it keep their records" in proc.stdout
    assert datainfo.names(home / "data")[-1] == "shapes"
    assert RunStore(home / "runs.sqlite").get(result["run_id"]).dataset == "pets"  # kept


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    home = tmp_path / "home"
    (tmp_path / "bad.zip").write_bytes(b"not a zip at all")
    proc = nnkit(home, "data", "add", "bad", str(tmp_path / "bad.zip"))
    assert proc.returncode == EXIT_USAGE
    assert proc.stderr.strip() == "error: bad.zip is not a zip file: zip the folder that " \
                                  "holds one folder per class"
    assert not (home / "data" / "user").exists() or not any((home / "data" / "user").iterdir())
