"""Pause, resume and stop a run from another thread; the loop checks it once per step."""

from __future__ import annotations

import threading


class StopTraining(Exception):
    """Raised inside the loop when a stop was requested: a clean, first-class outcome."""


class RunControl:
    """Thread-safe flags the training loop polls between steps."""

    def __init__(self) -> None:
        self._running = threading.Event()
        self._running.set()
        self._stop = threading.Event()
        self.reason = "stopped by the user"

    def pause(self) -> None:
        """Hold the loop before its next step."""
        self._running.clear()

    def resume(self) -> None:
        """Let a paused loop go on."""
        self._running.set()

    def stop(self, reason: str = "stopped by the user") -> None:
        """End the run before its next step, keeping what was learned."""
        if not self._stop.is_set():
            self.reason = reason
        self._stop.set()
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set() and not self._stop.is_set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def checkpoint(self) -> None:
        """Block while paused; raise StopTraining if a stop was requested."""
        while not self._running.wait(timeout=0.1):
            pass
        if self._stop.is_set():
            raise StopTraining()
