"""The embedded executor: one local training process (`python -m nnkit.jobs.worker`).

An executor is what the queue hands jobs to. Its whole interface: `start(job)`,
`send(cmd, job_id, **fields)` for pause, resume and stop, `alive`, `close(timeout)`, and
`on_event(executor, msg)` called from its own thread with every event (protocol.py), ending
with {"ev": "exit", "code": ...} when it is gone. Other executors (several processes, a Ray
cluster) keep the same shape.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from nnkit.jobs.protocol import Job


class LocalExecutor:
    """One training process, and a thread that hands each of its events to on_event."""

    name = "local"

    def __init__(self, store, on_event) -> None:
        root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (root, os.environ.get("PYTHONPATH", "")) if p)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nnkit.jobs.worker", "--store", str(store.path),
             "--runs-dir", str(store.runs_dir)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8", env=env,
            start_new_session=True)  # Ctrl+C reaches the app, which then stops it cleanly
        self.on_event = on_event
        self._send_lock = threading.Lock()
        threading.Thread(target=self._read, name="nnkit-worker-events", daemon=True).start()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def start(self, job: Job) -> bool:
        """Hand a job over; False if the process is gone."""
        return self._write({"cmd": "job", "job": job.to_dict()})

    def send(self, cmd: str, job_id: str, **fields) -> bool:
        """pause, resume or stop a job; False if the process is gone."""
        return self._write({"cmd": cmd, "job_id": job_id, **fields})

    def _write(self, msg: dict) -> bool:
        with self._send_lock:
            try:
                self.proc.stdin.write(json.dumps(msg) + "\n")
                self.proc.stdin.flush()
                return True
            except (BrokenPipeError, OSError, ValueError):
                return False

    def close(self, timeout: float = 0.0) -> None:
        """Close its stdin (it stops its job and exits); wait up to timeout seconds."""
        with self._send_lock:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass

    def _read(self) -> None:
        for line in self.proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            self.on_event(self, msg)
        self.on_event(self, {"ev": "exit", "code": self.proc.wait()})
