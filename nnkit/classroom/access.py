"""The run store and the job queue as one person may use them.

Pages get these two objects instead of the store and the manager themselves, so that every
change is checked here, on the server, whatever the page shows or hides: a person may pause,
resume, stop, rename or delete only what they started (the teacher, and whoever uses nnkit
alone, anything), and what they start is theirs and within the class's caps. Reading passes
through: classmates' runs are readable, never changeable. A refusal is NotAllowed, whose
message says why.
"""

from __future__ import annotations

from nnkit.classroom.people import SOLO, Caps, Person

# What pages may call on the manager and the store without a check: reads only.
MANAGER_READS = frozenset({"live", "job", "jobs", "job_of", "active_jobs", "active_ids",
                           "queue_position", "starts_in", "wait", "warm"})
STORE_READS = frozenset({"get", "epochs", "steps", "get_job", "list_jobs", "run_dir",
                         "job_dir", "checkpoint_path", "load_checkpoint", "load_arrays", "path",
                         "runs_dir"})


class NotAllowed(Exception):
    """A change this person may not make, or work beyond the class's caps."""


def _title(text: str) -> str:
    return text[:1].upper() + text[1:]


class _Owned:
    """What the two views share: the person, the caps, and the ownership check."""

    def __init__(self, person: Person, store, manager, caps=None, names=None) -> None:
        self.person, self._store, self._mgr = person, store, manager
        self._caps, self._names = caps, names  # callables: the class's caps, id -> name

    def can_change(self, owner: str) -> bool:
        """Whether this person may change a run or job started by `owner`."""
        return self.person.teaches or owner == self.person.id

    def _owner_name(self, owner: str) -> str:
        names = self._names() if self._names else {}
        return names.get(owner, "someone else") if owner else "nobody in this class"

    def _check_run(self, run_id: str) -> None:
        rec = self._store.get(run_id)
        if rec is not None and not self.can_change(rec.owner):
            raise NotAllowed(f"Run {run_id} belongs to {self._owner_name(rec.owner)}: only they "
                             "or the teacher can change it.")

    def _check_job(self, job_id: str) -> None:
        job = self._mgr.job(job_id)
        owner = job.owner if job is not None else None
        if owner is None:
            rec = self._store.get_job(job_id) or self._store.get(job_id)
            owner = rec.owner if rec is not None else None
        if owner is not None and not self.can_change(owner):
            raise NotAllowed(f"This job belongs to {self._owner_name(owner)}: only they or the "
                             "teacher can stop it.")


class OwnedManager(_Owned):
    """The job queue for one person (method names as RunManager's)."""

    def __getattr__(self, name: str):
        if name in MANAGER_READS:
            return getattr(self._mgr, name)
        raise AttributeError(f"{name} is not open to pages")

    @property
    def caps(self) -> Caps | None:
        """The caps this person's work must keep within (None: not capped)."""
        return None if self.person.teaches or self._caps is None else self._caps()

    def refusal(self, cfgs, jobs: int = 1) -> str | None:
        """Why starting `jobs` more jobs training these configs would be refused, or None."""
        caps = self.caps
        if caps is None:
            return None
        mine = sum(1 for job in self._mgr.jobs() if job.active and job.owner == self.person.id)
        if mine + jobs > caps.queued:
            return (f"You have {mine} job(s) waiting or training; the class allows "
                    f"{caps.queued} at a time. Wait until one ends, or stop one.")
        for cfg in cfgs:
            if cfg.epochs > caps.epochs:
                return (f"The class allows at most {caps.epochs} epoch(s) per run; this asks for "
                        f"{cfg.epochs}.")
            if _train_images(cfg) > caps.train_images:
                return (f"The class allows at most {caps.train_images:,} training images per "
                        "run: set 'Training images' to that or fewer.")
        return None

    def _allow(self, cfgs, jobs: int = 1) -> None:
        why = self.refusal(cfgs, jobs)
        if why:
            raise NotAllowed(why)

    # --- starting work: theirs, within the caps ----------------------------------------
    def submit(self, cfg, name: str = "") -> str:
        self._allow([cfg])
        return self._mgr.submit(cfg, name, owner=self.person.id)

    def submit_sweep(self, spec) -> str:
        from nnkit.training import sweep  # torch: only pages that sweep need it

        self._allow([cfg for _, _, cfg in sweep.members(spec)])
        return self._mgr.submit_sweep(spec, owner=self.person.id)

    def submit_group(self, name: str, group: str, runs) -> str:
        self._allow([cfg for _, cfg in runs])
        return self._mgr.submit_group(name, group, runs, owner=self.person.id)

    def submit_study(self, name: str, settings: dict) -> str:
        self._allow([])
        return self._mgr.submit_study(name, settings, owner=self.person.id)

    # --- changing work: only one's own ---------------------------------------------------
    def pause(self, run_id: str) -> None:
        self._check_job(self._mgr.job_of(run_id) or run_id)
        self._mgr.pause(run_id)

    def resume(self, run_id: str) -> None:
        self._check_job(self._mgr.job_of(run_id) or run_id)
        self._mgr.resume(run_id)

    def stop(self, run_id: str, reason: str = "stopped by the user") -> None:
        self._check_job(self._mgr.job_of(run_id) or run_id)
        self._mgr.stop(run_id, self._reason(reason))

    def stop_job(self, job_id: str, reason: str = "stopped by the user") -> None:
        self._check_job(job_id)
        self._mgr.stop_job(job_id, self._reason(reason))

    def delete(self, run_id: str) -> None:
        self._check_run(run_id)
        self._check_job(self._mgr.job_of(run_id) or run_id)  # deleting stops its job
        self._mgr.delete(run_id)

    def _reason(self, reason: str) -> str:
        if self.person.role == "teacher" and reason == "stopped by the user":
            return f"stopped by the teacher ({self.person.name})"
        return reason


class OwnedStore(_Owned):
    """The run store for one person: reads pass, renaming checks, other writes are closed.
    list() holds a student's own runs unless `everyone` (classmates' runs too) is asked for."""

    def __init__(self, person: Person, store, manager, names=None,
                 everyone: bool = True) -> None:
        super().__init__(person, store, manager, names=names)
        self.everyone = everyone or person.teaches

    def list(self, *args, **kwargs) -> list:
        runs = self._store.list(*args, **kwargs)
        return runs if self.everyone else self.mine(runs)

    def all_runs(self) -> list:
        """Every run in the store, whoever started it (the leaderboard's)."""
        return self._store.list()

    def __getattr__(self, name: str):
        if name in STORE_READS:
            return getattr(self._store, name)
        raise AttributeError(f"{name} is not open to pages")

    def rename(self, run_id: str, name: str) -> None:
        self._check_run(run_id)
        self._store.rename(run_id, name)

    def mine(self, runs) -> list:
        """The runs of `runs` this person started (all of them alone)."""
        return [r for r in runs if self.person is SOLO or r.owner == self.person.id]


def _train_images(cfg) -> int:
    """Training images a run would use (before the validation share is taken out)."""
    from nnkit import datainfo

    try:
        info = datainfo.info(cfg.dataset)
    except datainfo.DataError:
        return cfg.toy_size
    if info.kind == "toy":
        return cfg.toy_size
    full = info.sizes[0] if info.sizes else 50_000 if cfg.dataset == "cifar10" else 60_000
    return min(full, cfg.train_subset) if cfg.train_subset else full
