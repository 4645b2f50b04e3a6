"""Which executor trains the queue's jobs: a Ray cluster when NNKIT_RAY_ADDRESS names one,
else (and when that cluster cannot be reached) the local training process.

Ray is optional: it is imported only when the setting is there. Pages read the cluster's
state through cluster_status(), a plain string, never through Ray.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from dataclasses import dataclass

from nnkit.jobs.local import LocalExecutor

ADDRESS_VAR = "NNKIT_RAY_ADDRESS"
_lock = threading.Lock()
_last: dict[str, ClusterStatus] = {}  # address -> what its last connection attempt found


@dataclass(frozen=True)
class ClusterStatus:
    """Where the queue's jobs train, in words; trouble when a cluster named is not used."""

    text: str
    trouble: bool = False


def address() -> str:
    """The Ray cluster's address from NNKIT_RAY_ADDRESS ('' when none is set)."""
    return os.environ.get(ADDRESS_VAR, "").strip()


def silent(addr: str, timeout: float) -> str | None:
    """Why nothing answers at a host:port address within timeout seconds; None when something
    does (or the address has no port to try: Ray then says what is wrong)."""
    host, _, port = addr.rpartition(":")
    if not (host and port.isdigit()):
        return None
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        return f"nothing answers at {addr} ({e.strerror or e})"
    return None


def _fallback(addr: str, why: str) -> ClusterStatus:
    return ClusterStatus(f"Ray cluster at {addr} unreachable ({why}): jobs train in the "
                         "local training process instead", trouble=True)


def make_executor(store, on_event):
    """The executor for the next jobs (RunManager's factory): Ray's when the cluster answers,
    else the local one, with the reason on stderr and in cluster_status()."""
    addr = address()
    if not addr:
        return LocalExecutor(store, on_event)
    try:
        from nnkit.jobs import rayexec
    except ImportError as e:
        status = _fallback(addr, f"Ray is not installed here: pip install -r "
                           f"requirements-ray.txt ({e})")
    else:
        try:
            executor = rayexec.RayExecutor(store, on_event, addr)
        except rayexec.ClusterUnreachable as e:
            status = _fallback(addr, str(e))
        else:
            with _lock:
                _last[addr] = ClusterStatus(f"connected to the Ray cluster at {addr} "
                                            f"({rayexec.describe_cluster()})")
            return executor
    with _lock:
        _last[addr] = status
    print(f"nnkit: {status.text}", file=sys.stderr)
    return LocalExecutor(store, on_event)


def note_lost(addr: str, why: str) -> None:
    """The Ray executor lost its cluster: say so until the next attempt."""
    with _lock:
        _last[addr] = ClusterStatus(f"{why}: its jobs ended as failed; the next jobs train "
                                    "on it again if it answers, else in the local training "
                                    "process", trouble=True)


def cluster_status() -> ClusterStatus:
    """Where jobs train: the local process, a connected cluster, or one not reached."""
    addr = address()
    if not addr:
        return ClusterStatus("jobs train in the local training process (no Ray cluster set: "
                             f"{ADDRESS_VAR})")
    with _lock:
        known = _last.get(addr)
    if known is not None:
        return known
    if why := silent(addr, timeout=0.5):
        return _fallback(addr, why)
    return ClusterStatus(f"Ray cluster at {addr}: jobs connect to it when the first one starts")
