"""The jobs waiting their turn, taken person by person: whoever started a job least recently
goes next (round-robin), and each person's jobs in the order they were queued. One person's
ten queued runs then hold up everyone else by one run, not ten. Alone (every job's owner is
the same, '' by default) it is first come, first served."""

from __future__ import annotations

import itertools
import queue
import threading
from collections import OrderedDict, deque


class FairQueue:
    """A thread-safe queue of job ids with owners; get() blocks like queue.Queue.get."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._waiting: OrderedDict[str, deque[tuple[int, str]]] = OrderedDict()  # by owner
        self._served: dict[str, int] = {}  # owner -> the tick of their last start
        self._ticks = itertools.count(1)
        self._closed = False
        self._taken: set[str] = set()  # handed out by get() and not done() yet

    def put(self, job_id: str, owner: str = "") -> None:
        with self._cond:
            self._waiting.setdefault(owner, deque()).append((next(self._ticks), job_id))
            self._cond.notify()

    def close(self) -> None:
        """get() returns None from now on, once nothing waits."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def get(self, timeout: float | None = None) -> str | None:
        """The next job id; None once closed and empty; queue.Empty after timeout seconds."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._waiting or self._closed, timeout):
                raise queue.Empty
            if not self._waiting:
                return None
            owner = self._next_owner(self._waiting, self._served)
            _, job_id = self._waiting[owner].popleft()
            if not self._waiting[owner]:
                del self._waiting[owner]
            self._served[owner] = next(self._ticks)
            self._taken.add(job_id)
            return job_id

    def done(self, job_id: str) -> None:
        """The job get() handed out has ended."""
        with self._cond:
            self._taken.discard(job_id)

    def position(self, job_id: str) -> int:
        """0 for a job handed out (training), k if k jobs are ahead of it (training or due to
        start before it), -1 if neither."""
        with self._cond:
            taken = len(self._taken)
            if job_id in self._taken:
                return 0
        order = self.order()
        return order.index(job_id) + taken if job_id in order else -1

    def remove(self, job_id: str) -> bool:
        """Take a job out before its turn (it was stopped); False if it is not waiting."""
        with self._cond:
            for owner, jobs in self._waiting.items():
                for item in jobs:
                    if item[1] == job_id:
                        jobs.remove(item)
                        if not jobs:
                            del self._waiting[owner]
                        return True
        return False

    def order(self) -> list[str]:
        """The waiting job ids in the order they will start (if nothing else is queued)."""
        with self._cond:
            waiting = OrderedDict((o, deque(j)) for o, j in self._waiting.items())
            served, tick = dict(self._served), next(self._ticks)
        out = []
        while waiting:
            owner = self._next_owner(waiting, served)
            out.append(waiting[owner].popleft()[1])
            if not waiting[owner]:
                del waiting[owner]
            served[owner], tick = tick, tick + 1
        return out

    @staticmethod
    def _next_owner(waiting: OrderedDict, served: dict[str, int]) -> str:
        """The owner started least recently (never: first); ties go to the earliest queued."""
        return min(waiting, key=lambda o: (served.get(o, 0), waiting[o][0][0]))
