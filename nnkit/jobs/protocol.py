"""What the app and a training process say to each other: one JSON object per line.

Commands (app -> process): {"cmd": "job", "job": {...}} queues a job (see Job), and
{"cmd": "pause" | "resume" | "stop", "job_id": ID, "reason": ...} controls one. Events
(process -> app) carry "ev": "ready"; per run "status", "start", "steps", "weights", "epoch",
"end" (keyed by "run_id"); per job "progress" (a study's partial results) and "job_end" (keyed
by "job_id", always the last word about a job). Arrays travel as base64 float16: the live view
needs no more, and the store keeps the full values.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import asdict, dataclass, field

import numpy as np

SHUTDOWN_REASON = "stopped because the app shut down"
KINDS = ("run", "sweep", "experiment", "palindrome")


@dataclass
class Job:
    """A unit of the queue: one run, a group of runs trained together (a sweep, a Catalogue
    experiment), or a study with no runs of its own (the palindrome RNN, settings in `settings`).
    A run's job id is its run id; the others' are their job record's."""

    id: str
    kind: str
    runs: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Job:
        if d.get("kind") not in KINDS:
            raise ValueError(f"unknown job kind {d.get('kind')!r}")
        return cls(str(d["id"]), d["kind"], [str(r) for r in d.get("runs", [])],
                   dict(d.get("settings", {})))


class Emitter:
    """Writes one JSON event per line; safe to call from several threads."""

    def __init__(self, stream) -> None:
        self.stream, self.lock = stream, threading.Lock()

    def __call__(self, ev: str, **fields) -> None:
        line = json.dumps({"ev": ev, **fields}, separators=(",", ":"))
        with self.lock:
            try:
                self.stream.write(line + "\n")
                self.stream.flush()
            except (BrokenPipeError, ValueError):  # the app is gone; the store still has it all
                pass


def encode_array(a) -> dict:
    """A float array as base64 float16 with its shape."""
    a = np.ascontiguousarray(a, dtype=np.float16)
    return {"shape": list(a.shape), "data": base64.b64encode(a.tobytes()).decode("ascii")}


def decode_array(d: dict) -> np.ndarray:
    """The inverse of encode_array, as float32."""
    raw = np.frombuffer(base64.b64decode(d["data"]), dtype=np.float16)
    return raw.reshape(d["shape"]).astype(np.float32)
