"""The run store: a SQLite file (WAL, readable while written) plus a folder of files per run."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import shutil
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnkit import diskerrors, paths
from nnkit.config import RunConfig
from nnkit.training.events import EpochEnd, RunEnd
from nnkit.training.status import SQL_ACTIVE, is_active

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL,
    config TEXT NOT NULL, dataset TEXT NOT NULL, model TEXT NOT NULL,
    status TEXT NOT NULL, message TEXT NOT NULL DEFAULT '', device TEXT NOT NULL DEFAULT '',
    num_params INTEGER, epochs_done INTEGER NOT NULL DEFAULT 0, train_seconds REAL,
    images_per_second REAL, best_test_accuracy REAL, final_test_accuracy REAL,
    final_test_loss REAL, pid INTEGER, group_name TEXT NOT NULL DEFAULT '',
    owner TEXT NOT NULL DEFAULT '', node TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS epochs (
    run_id TEXT NOT NULL, epoch INTEGER NOT NULL, train_loss REAL, train_accuracy REAL,
    val_loss REAL, val_accuracy REAL, test_loss REAL, test_accuracy REAL,
    images_per_second REAL, seconds REAL, PRIMARY KEY (run_id, epoch)
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL, created REAL NOT NULL,
    updated REAL NOT NULL, status TEXT NOT NULL, message TEXT NOT NULL DEFAULT '',
    spec TEXT NOT NULL DEFAULT '{}', runs TEXT NOT NULL DEFAULT '[]',
    result TEXT NOT NULL DEFAULT '{}', pid INTEGER, owner TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL, step INTEGER NOT NULL, epoch INTEGER NOT NULL, loss REAL, lr REAL,
    PRIMARY KEY (run_id, step)
);
"""
# Columns added after the first release: a store written before them gets them on opening.
ADDED_COLUMNS = {"runs": {"owner": "TEXT NOT NULL DEFAULT ''", "node": "TEXT NOT NULL DEFAULT ''"},
                 "jobs": {"owner": "TEXT NOT NULL DEFAULT ''"}}
CHECKPOINT_FORMAT = "nnkit-checkpoint-1"
EPOCH_FIELDS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy",
                "test_loss", "test_accuracy", "images_per_second", "seconds")


class StoreError(Exception):
    """The run store or one of its files is unreadable; the message names the file."""


class DiskError(StoreError):
    """A write to the store or a run's files failed: the disk is full or the folder cannot be
    written. Nothing is damaged; the message says which, and where."""


@contextlib.contextmanager
def _writing(folder: Path, tmp: Path | None = None):
    """Turn a failed write into folder into DiskError (other errors pass); remove tmp if so."""
    try:
        yield
    except Exception as e:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
        message = diskerrors.describe(e, folder)
        if message is None:
            raise
        raise DiskError(message) from e


@dataclass(frozen=True)
class JobRecord:
    """A job of several runs (a sweep, a Catalogue experiment) or of none (the palindrome
    study): its settings as data, its member runs, and what it found."""

    id: str
    kind: str  # sweep | experiment | palindrome
    name: str
    created: float
    updated: float
    status: str
    message: str
    spec: dict
    runs: list[str]
    result: dict
    pid: int | None
    owner: str = ""  # the person who started it ('' when nnkit serves one person)

    @property
    def active(self) -> bool:
        return is_active(self.status)


JOB_JSON = ("spec", "runs", "result")


def new_id(now: float) -> str:
    """A sortable unique id: local time and six random hex digits."""
    return time.strftime("%Y%m%d-%H%M%S", time.localtime(now)) + "-" + uuid.uuid4().hex[:6]


@dataclass(frozen=True)
class RunRecord:
    id: str
    name: str
    created: float
    updated: float
    config: RunConfig
    dataset: str
    model: str
    status: str
    message: str
    device: str
    num_params: int | None
    epochs_done: int
    train_seconds: float | None
    images_per_second: float | None
    best_test_accuracy: float | None
    final_test_accuracy: float | None
    final_test_loss: float | None
    pid: int | None
    group_name: str
    owner: str = ""  # the person who started it ('' when nnkit serves one person)
    node: str = ""  # where it trained: "local HOST" or "ray HOST IP (NODE)"; '' before


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunStore:
    """Runs, their per-epoch and per-step metrics, checkpoints and evaluations."""

    def __init__(self, path: Path | None = None, runs_dir: Path | None = None) -> None:
        self.path = Path(path or paths.store_path())
        self.runs_dir = Path(runs_dir or (self.path.parent / "runs"))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)
            for table, columns in ADDED_COLUMNS.items():
                have = {row["name"] for row in db.execute(f"PRAGMA table_info({table})")}
                for name, kind in columns.items():
                    if name not in have:
                        db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")

    @contextlib.contextmanager
    def _connect(self):
        try:
            db = sqlite3.connect(self.path, timeout=30)
            db.row_factory = sqlite3.Row
            try:
                with db:
                    yield db
            finally:
                db.close()
        except sqlite3.DatabaseError as e:
            disk = diskerrors.describe(e, self.path.parent)
            if disk is not None:  # full, not damaged: moving it aside would not help
                raise DiskError(disk) from None
            raise StoreError(f"{self.path}: not a usable nnkit run store ({e}). Move it "
                             "aside (or set NNKIT_HOME) to start a new one; nothing was "
                             "changed.") from None

    # --- runs -------------------------------------------------------------------------
    def create_run(self, cfg: RunConfig, name: str = "", status: str = "queued",
                   group: str = "", owner: str = "") -> str:
        """Record a new run (started by `owner`, a person's id in a class) and return its id."""
        now = time.time()
        run_id = new_id(now)
        name = name or f"{cfg.model} on {cfg.dataset}"
        with self._connect() as db:
            db.execute("INSERT INTO runs (id, name, created, updated, config, dataset, model, "
                       "status, pid, group_name, owner) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                       (run_id, name, now, now, cfg.to_json(), cfg.dataset, cfg.model, status,
                        os.getpid(), group, owner))
        return run_id

    def update(self, run_id: str, **values) -> None:
        """Set columns of a run."""
        cols = ", ".join(f"{k} = ?" for k in values)
        with self._connect() as db:
            db.execute(f"UPDATE runs SET {cols}, updated = ? WHERE id = ?",
                       (*values.values(), time.time(), run_id))

    def set_status_if(self, run_id: str, status: str, expected: tuple[str, ...]) -> None:
        """Set a run's status only while it is one of `expected` (in one statement: a pause
        written by the app never overwrites the ending the training process wrote)."""
        with self._connect() as db:
            db.execute(f"UPDATE runs SET status = ?, updated = ? WHERE id = ? AND status IN "
                       f"({', '.join('?' * len(expected))})",
                       (status, time.time(), run_id, *expected))

    def get(self, run_id: str) -> RunRecord | None:
        """One run, or None if there is none with that id."""
        with self._connect() as db:
            row = db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return self._record(row) if row else None

    def list(self, status: str | None = None, dataset: str | None = None,
             owner: str | None = None) -> list[RunRecord]:
        """All runs (of one status, dataset or owner if given), newest first."""
        q, args = "SELECT * FROM runs WHERE 1=1", []
        if owner is not None:
            q, args = q + " AND owner = ?", [*args, owner]
        if status:
            q, args = q + " AND status = ?", [*args, status]
        if dataset:
            q, args = q + " AND dataset = ?", [*args, dataset]
        with self._connect() as db:
            rows = db.execute(q + " ORDER BY created DESC, id DESC", args).fetchall()
        return [self._record(r) for r in rows]

    def _record(self, row: sqlite3.Row) -> RunRecord:
        d = dict(row)
        try:
            d["config"] = RunConfig.from_json(d["config"])
        except (ValueError, TypeError) as e:
            raise StoreError(f"{self.path}: run {d['id']} has an unreadable config ({e})") from None
        return RunRecord(**d)

    def rename(self, run_id: str, name: str) -> None:
        """Give a run a new name."""
        if not name.strip():
            raise ValueError("a run name cannot be empty")
        self.update(run_id, name=name.strip())

    def delete(self, run_id: str) -> None:
        """Remove a run, its metrics and its files."""
        with self._connect() as db:
            for row in db.execute("SELECT id, runs FROM jobs WHERE runs LIKE ?",
                                  (f'%"{run_id}"%',)).fetchall():
                runs = [r for r in json.loads(row["runs"]) if r != run_id]
                db.execute("UPDATE jobs SET runs = ? WHERE id = ?", (json.dumps(runs), row["id"]))
            for table, col in (("steps", "run_id"), ("epochs", "run_id"), ("runs", "id")):
                db.execute(f"DELETE FROM {table} WHERE {col} = ?", (run_id,))
        shutil.rmtree(self.run_dir(run_id), ignore_errors=True)

    def recover_interrupted(self) -> list[str]:
        """Mark runs left active by a process that is gone as 'interrupted'; return their ids."""
        with self._connect() as db:
            rows = db.execute(f"SELECT id, pid FROM runs WHERE status IN {SQL_ACTIVE}").fetchall()
            jobs = db.execute(f"SELECT id, pid FROM jobs WHERE status IN {SQL_ACTIVE}").fetchall()
        lost = [r["id"] for r in rows if not _pid_alive(r["pid"])]
        for run_id in lost:
            has = self.checkpoint_path(run_id).exists()
            self.update(run_id, status="interrupted",
                        message="the process training it ended before it finished; "
                        + ("its last checkpoint is usable" if has else "no checkpoint was saved"))
        for job in jobs:
            if not _pid_alive(job["pid"]):
                self.update_job(job["id"], status="interrupted",
                                message="the app ended before the job finished; what its runs "
                                "learned is kept")
        return lost

    # --- jobs -----------------------------------------------------------------------
    def create_job(self, kind: str, name: str, spec: dict, runs: list[str] = (),
                   status: str = "queued", owner: str = "") -> str:
        """Record a job (its settings and member runs as JSON) and return its id."""
        now = time.time()
        job_id = "job-" + new_id(now)
        with self._connect() as db:
            db.execute("INSERT INTO jobs (id, kind, name, created, updated, status, spec, runs, "
                       "pid, owner) VALUES (?,?,?,?,?,?,?,?,?,?)",
                       (job_id, kind, name, now, now, status, json.dumps(spec),
                        json.dumps(list(runs)), os.getpid(), owner))
        return job_id

    def update_job(self, job_id: str, **values) -> None:
        """Set columns of a job (spec, runs and result as Python values)."""
        values = {k: json.dumps(v) if k in JOB_JSON else v for k, v in values.items()}
        cols = ", ".join(f"{k} = ?" for k in values)
        with self._connect() as db:
            db.execute(f"UPDATE jobs SET {cols}, updated = ? WHERE id = ?",
                       (*values.values(), time.time(), job_id))

    def get_job(self, job_id: str) -> JobRecord | None:
        """One job, or None."""
        with self._connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return self._job(row) if row else None

    def list_jobs(self, kind: str | None = None) -> list[JobRecord]:
        """Jobs, newest first (of one kind if given)."""
        q, args = "SELECT * FROM jobs", ()
        if kind:
            q, args = q + " WHERE kind = ?", (kind,)
        with self._connect() as db:
            rows = db.execute(q + " ORDER BY created DESC, id DESC", args).fetchall()
        return [self._job(r) for r in rows]

    def job_dir(self, job_id: str) -> Path:
        """Files of a job that has no runs of its own (the palindrome study's models)."""
        return self.runs_dir / job_id

    def _job(self, row: sqlite3.Row) -> JobRecord:
        d = dict(row)
        try:
            for key in JOB_JSON:
                d[key] = json.loads(d[key])
        except ValueError as e:
            raise StoreError(f"{self.path}: job {d['id']} has unreadable {key} ({e})") from None
        return JobRecord(**d)

    # --- metrics ----------------------------------------------------------------------
    def add_epoch(self, run_id: str, e: EpochEnd) -> None:
        """Record an epoch's metrics and update the run's summary."""
        values = [getattr(e, f) for f in EPOCH_FIELDS]
        with self._connect() as db:
            db.execute(f"INSERT OR REPLACE INTO epochs (run_id, {', '.join(EPOCH_FIELDS)}) "
                       f"VALUES (?{', ?' * len(EPOCH_FIELDS)})", (run_id, *values))
            db.execute("UPDATE runs SET epochs_done = ?, train_seconds = ?, images_per_second = ?,"
                       " best_test_accuracy = MAX(COALESCE(best_test_accuracy, 0), ?),"
                       " updated = ? WHERE id = ?",
                       (e.epoch, e.seconds, e.images_per_second, e.test_accuracy or 0,
                        time.time(), run_id))

    def add_steps(self, run_id: str, rows: list[tuple[int, int, float, float]]) -> None:
        """Record (step, epoch, loss, lr) rows."""
        with self._connect() as db:
            db.executemany("INSERT OR REPLACE INTO steps (run_id, step, epoch, loss, lr) "
                           "VALUES (?, ?, ?, ?, ?)", [(run_id, *r) for r in rows])

    def epochs(self, run_id: str) -> list[dict]:
        """Per-epoch metrics, in order."""
        with self._connect() as db:
            rows = db.execute(f"SELECT {', '.join(EPOCH_FIELDS)} FROM epochs WHERE run_id = ? "
                              "ORDER BY epoch", (run_id,)).fetchall()
        return [dict(r) for r in rows]

    def steps(self, run_id: str, after: int = 0) -> list[dict]:
        """Per-step losses after step `after`, in order."""
        with self._connect() as db:
            rows = db.execute("SELECT step, epoch, loss, lr FROM steps WHERE run_id = ? AND "
                              "step > ? ORDER BY step", (run_id, after)).fetchall()
        return [dict(r) for r in rows]

    def finish(self, run_id: str, end: RunEnd, epochs_done: int | None = None) -> None:
        """Record how a run ended."""
        values = {"status": end.status, "message": end.message,
                  "train_seconds": end.train_seconds,
                  "final_test_accuracy": end.test_accuracy, "final_test_loss": end.test_loss}
        if end.metrics.get("images_per_second"):
            values["images_per_second"] = end.metrics["images_per_second"]
        if epochs_done is not None:
            values["epochs_done"] = epochs_done
        self.update(run_id, **values)
        if end.test_accuracy is not None:
            with self._connect() as db:
                db.execute("UPDATE runs SET best_test_accuracy = MAX(COALESCE(best_test_accuracy,"
                           " 0), ?) WHERE id = ?", (end.test_accuracy, run_id))

    # --- files ------------------------------------------------------------------------
    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def checkpoint_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "checkpoint.pt"

    def save_checkpoint(self, run_id: str, state: dict, spec: dict, input_shape, num_classes: int,
                        epoch: int) -> Path:
        """Write the model's state dict and spec atomically (a kill mid-write leaves the old)."""
        path = self.checkpoint_path(run_id)
        tmp = path.with_suffix(".tmp")
        import torch  # here, not at the top: listing runs needs no torch (~3 s to import)

        with _writing(path.parent, tmp):
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"format": CHECKPOINT_FORMAT, "spec": json.dumps(spec),
                        "input_shape": list(input_shape), "num_classes": int(num_classes),
                        "epoch": int(epoch), "state_dict": state}, tmp)
            os.replace(tmp, path)
        return path

    def load_checkpoint(self, run_id: str) -> dict:
        """The checkpoint's contents (spec as a dict), or StoreError naming the file."""
        return load_checkpoint_file(self.checkpoint_path(run_id))

    def save_arrays(self, run_id: str, name: str, **arrays: np.ndarray) -> None:
        """Save plain numeric arrays as <run>/<name>.npz (no pickles)."""
        folder = self.run_dir(run_id)
        tmp = folder / f".{name}.tmp.npz"
        with _writing(folder, tmp):
            folder.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(tmp, **arrays)
            os.replace(tmp, folder / f"{name}.npz")

    def load_arrays(self, run_id: str, name: str) -> dict[str, np.ndarray] | None:
        """Arrays saved by save_arrays, None if absent, StoreError if damaged."""
        path = self.run_dir(run_id) / f"{name}.npz"
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except Exception as e:  # any damage is reported the same way
            raise StoreError(f"{path}: damaged or not an nnkit file ({e})") from None


def load_checkpoint_file(path: Path) -> dict:
    """Read an nnkit checkpoint with weights_only=True; refuse anything else by name."""
    path = Path(path)
    if not path.exists():
        raise StoreError(f"{path}: no checkpoint (the run saved none, or it was deleted)")
    import torch  # here, not at the top: listing runs needs no torch (~3 s to import)

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # weights_only refused a global: it could run code
        raise StoreError(f"{path}: refused: it holds more than plain weights (a pickle that "
                         "could run code), so it was not loaded") from None
    except Exception as e:  # corrupt and foreign files alike
        raise StoreError(f"{path}: refused, not a readable nnkit checkpoint "
                         f"({type(e).__name__})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise StoreError(f"{path}: refused, not an nnkit checkpoint")
    try:
        ckpt["spec"] = json.loads(ckpt["spec"])
    except (TypeError, ValueError, KeyError):
        raise StoreError(f"{path}: refused, its model spec is unreadable") from None
    return ckpt
