"""Sweeps: one setting at several values, each trained several times (replicates), every member
an ordinary stored run. Members that differ only in lr, weight decay or seed train at once
(nnkit.training.batched); the others one after another.

The varied settings (config.SWEEP_PARAMS): weight_decay, lr, batch_size, epochs, train_subset,
dropout, and hidden: the width of the first hidden dense layer, later layers keeping their
proportions (mlp-500-300 at hidden=250 is 250-150; a one-layer MLP simply gets that width).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np

from nnkit import data, models
from nnkit.config import SWEEP_PARAMS, ConfigError, RunConfig, check
from nnkit.runs import RunStore
from nnkit.training import batched, estimate
from nnkit.training.control import RunControl
from nnkit.training.events import Callback, Callbacks, RunEnd
from nnkit.training.loop import train
from nnkit.training.results import TrainingFailed, TrainResult
from nnkit.training.runner import load_bundle_for, save_result, store_callbacks

INTEGER = ("batch_size", "epochs", "train_subset", "hidden")
LOG_SCALE = ("weight_decay", "lr", "batch_size", "train_subset")  # plotted on a log axis


@dataclass(frozen=True)
class SweepSpec:
    base: RunConfig  # every member starts from this
    param: str  # one of SWEEP_PARAMS
    values: tuple = ()  # the values param takes
    replicates: int = 3  # trainings per value, seeds base.seed, base.seed + 1, ...
    name: str = ""  # the runs' group name in the store ('' -> made from param and time)

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(self.values))


def apply(base: RunConfig, param: str, value) -> RunConfig:
    """base with param set to value (dropout and hidden make a custom model)."""
    if param not in SWEEP_PARAMS:
        raise ConfigError("param", f"must be one of {', '.join(SWEEP_PARAMS)} (got {param!r})")
    if param in INTEGER and float(value) != int(value):
        raise ConfigError(param, f"must be a whole number (got {value!r})")
    value = int(value) if param in INTEGER else float(value)
    if param not in ("dropout", "hidden"):
        return base.with_changes(**{param: value})
    spec = base.model_spec()
    if param == "dropout":
        spec = models.with_overrides(spec, dropout=value)
    else:
        if not spec.hidden:
            raise ConfigError("hidden", f"{base.model} has no hidden dense layer to widen")
        spec = models.with_overrides(spec, hidden=[max(1, round(h * value / spec.hidden[0]))
                                                   for h in spec.hidden])
    return base.with_changes(model="custom", spec=spec)


def value_of(cfg: RunConfig, param: str):
    """The value param has in cfg (the inverse of apply)."""
    if param == "dropout":
        return cfg.model_spec().dropout
    if param == "hidden":
        return cfg.model_spec().hidden[0]
    return getattr(cfg, param)


def values_from_range(kind: str, start: float = 0, stop: float = 0, count: int = 0,
                      text: str = "", integer: bool = False) -> tuple:
    """Values from a comma-separated list (kind "list", from text), or count of them spaced
    evenly ("linear") or by equal ratios ("log", 3 significant digits) from start to stop."""
    if kind == "list":
        try:
            values = [float(v) for v in text.replace(";", ",").split(",") if v.strip()]
        except ValueError:
            raise ConfigError("values", "must be numbers separated by commas "
                              f"(got {text!r})") from None
    elif kind in ("log", "linear"):
        if not 1 <= count <= 50:
            raise ConfigError("values", f"count must be between 1 and 50 (got {count})")
        if kind == "log" and (start <= 0 or stop <= 0):
            raise ConfigError("values", "a log range needs start and stop above 0")
        values = list(np.geomspace(start, stop, count) if kind == "log"
                      else np.linspace(start, stop, count))
        if kind == "log":
            values = [float(f"{v:.3g}") for v in values]
    else:
        raise ConfigError("values", f"kind must be list, log or linear (got {kind!r})")
    if integer:
        values = [round(v) for v in values]
    out = []
    for v in values:  # in order, without repeats (rounding may merge neighbours)
        v = int(v) if integer else float(v)
        if v not in out:
            out.append(v)
    if not out:
        raise ConfigError("values", "give at least one value")
    return tuple(out)


def members(spec: SweepSpec) -> list[tuple[object, int, RunConfig]]:
    """(value, replicate, config) of every member, value by value; seed = base.seed + replicate."""
    if not 1 <= spec.replicates <= 50:
        raise ConfigError("replicates", f"must be between 1 and 50 (got {spec.replicates})")
    if not spec.values:
        raise ConfigError("values", "give at least one value")
    if len(spec.values) > 50:
        raise ConfigError("values", f"at most 50 values (got {len(spec.values)})")
    out = []
    for value in spec.values:
        cfg = apply(spec.base, spec.param, value)
        for r in range(spec.replicates):
            out.append((value_of(cfg, spec.param), r, check(cfg.with_changes(seed=cfg.seed + r))))
    return out


def aggregate(rows: Iterable[tuple[object, float | None]]) -> list[dict]:
    """(value, metric) pairs -> per value, in order: mean, std (ddof=1, the sample standard
    deviation; 0 when n = 1), n and the values themselves. Missing metrics (None) are skipped.

    pandas' groupby does the grouping and the statistics (imported here: the training process
    that imports this module never aggregates)."""
    import pandas as pd

    frame = pd.DataFrame(list(rows), columns=["value", "metric"], dtype=object)
    frame = frame[frame["metric"].notna()].astype({"metric": "float64"})
    if frame.empty:
        return []
    stats = frame.groupby("value", sort=True)["metric"].agg(["mean", "std", "size", list])
    return [{"value": value, "mean": float(row["mean"]),
             "std": float(row["std"]) if row["size"] > 1 else 0.0, "n": int(row["size"]),
             "values": row["list"]} for value, row in stats.iterrows()]


def best_value(agg: Sequence[dict]):
    """The value with the highest mean (the first of equals), None when there is none."""
    return max(agg, key=lambda a: a["mean"])["value"] if agg else None


def groups_of(cfgs: Sequence[RunConfig]) -> list[list[int]]:
    """Indices of cfgs in training groups: the members of a group of two or more differ only in
    lr, weight decay and seed, and train at once (nnkit.training.batched)."""
    groups: dict[str, list[int]] = {}
    for i, cfg in enumerate(cfgs):
        key = batched.batch_key(cfg) if not batched.not_worth_it(cfg) else f"alone {i}"
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def plan(spec: SweepSpec) -> list[list[int]]:
    """Member indices in training groups: members in one group of two or more train at once."""
    return groups_of([cfg for _, _, cfg in members(spec)])


def can_batch(spec: SweepSpec) -> bool:
    """True when every member trains in one torch.func batch (shapes and model allow it)."""
    return len(plan(spec)) == 1 and len(members(spec)) > 1


def estimate_seconds(spec: SweepSpec) -> float:
    """Rough training time of the whole sweep on a 2-core CPU (nnkit.training.estimate)."""
    mem = members(spec)
    return estimate.groups_seconds([[mem[i][2] for i in g] for g in plan(spec)])


def describe_plan(spec: SweepSpec) -> str:
    """How the sweep will train, in words."""
    groups, n = plan(spec), len(members(spec))
    if len(groups) == 1 and n > 1:
        return f"all {n} networks at once (torch.func)"
    if all(len(g) == 1 for g in groups):
        why = batched.not_worth_it(spec.base) or f"each {spec.param} value changes the training"
        return f"{n} networks one after another ({why})"
    return (f"{len(groups)} groups one after another, the {len(groups[0])} replicates of each "
            f"value at once ({spec.param} changes shapes or steps)")


@dataclass
class MemberResult:
    index: int
    value: object
    replicate: int
    run_id: str
    status: str
    test_accuracy: float | None = None
    test_loss: float | None = None
    train_seconds: float | None = None
    batched: bool = False


@dataclass
class SweepResult:
    name: str
    param: str
    members: list[MemberResult]
    batched: bool  # some members trained at once
    seconds: float  # wall-clock, data loading and evaluation included

    def aggregate(self) -> list[dict]:
        """Final test accuracy per value over the finished members."""
        return aggregate((m.value, m.test_accuracy) for m in self.members
                         if m.status == "finished")


def default_name(spec: SweepSpec) -> str:
    return f"{spec.base.model} {spec.param} sweep {time.strftime('%m-%d %H:%M:%S')}"


def run_name(group: str, param: str, value, replicate: int) -> str:
    return f"{group}: {param}={value:g} #{replicate + 1}"


def create(spec: SweepSpec, store: RunStore, owner: str = "") -> tuple[str, list[str]]:
    """Store a sweep: its member runs (queued, group = its name) and a job record holding its
    settings as data (param, values, replicates, base config, each member's value and
    replicate). Returns the job id and the member run ids, in member order."""
    mem = members(spec)
    data.prepare(spec.base.dataset)  # before any run exists: missing data leaves no ghosts
    name = spec.name or default_name(spec)
    ids = [store.create_run(cfg, run_name(name, spec.param, v, r), "queued", group=name,
                            owner=owner)
           for v, r, cfg in mem]
    settings = {"param": spec.param, "values": list(spec.values), "replicates": spec.replicates,
                "base": json.loads(spec.base.to_json()),
                "members": [[run_id, v, r] for run_id, (v, r, _) in zip(ids, mem, strict=True)]}
    job_id = store.create_job("sweep", name, settings, ids, owner=owner)
    return job_id, ids


def train_members(store: RunStore, run_ids: Sequence[str], control: RunControl | None = None,
                  callbacks_for: Callable[[str], Sequence[Callback]] | None = None,
                  on_member_end: Callable[[str, TrainResult | None], None] | None = None
                  ) -> dict[str, TrainResult | None]:
    """Train stored runs as a group: those that differ only in lr, weight decay and seed at
    once, the others one after another; every member's progress goes to the store. The
    training process trains sweeps and Catalogue experiments with this, the CLI's sweep too.

    callbacks_for(run_id) gives a member's extra listeners. A stop ends the members training
    now (they keep what they learned) and the ones not started yet ("stopped before it
    started"). Returns each run's result (None where it failed before training)."""
    control = control or RunControl()
    recs = [store.get(r) for r in run_ids]
    present = [(r, rec) for r, rec in zip(run_ids, recs, strict=True) if rec is not None]
    ids, cfgs = [r for r, _ in present], [rec.config for _, rec in present]
    extra = {r: list(callbacks_for(r)) if callbacks_for else [] for r in ids}
    out: dict[str, TrainResult | None] = {}

    def ended(group: list[int], end: RunEnd) -> None:
        for i in group:
            store.finish(ids[i], end)
            Callbacks(extra[ids[i]]).on_run_end(end)
            out[ids[i]] = None
            if on_member_end:
                on_member_end(ids[i], None)

    for group in groups_of(cfgs):
        gcfgs, gids = [cfgs[i] for i in group], [ids[i] for i in group]
        if control.stop_requested:
            ended(group, RunEnd("stopped", "stopped before it started", 0.0, None, None))
            continue
        try:
            bundles = _bundles(gcfgs)
        except Exception as e:  # this group fails; the others go on
            ended(group, RunEnd("failed", f"{type(e).__name__}: {e}", 0.0, None, None))
            continue
        cbs = [[*store_callbacks(store, r, c, b.info, flush_seconds=5.0), *extra[r]]
               for r, c, b in zip(gids, gcfgs, bundles, strict=True)]
        trained: list[TrainResult | None] = [None] * len(group)
        try:
            if len(group) > 1:
                trained = batched.train_batched(gcfgs, bundles, cbs, control, gids)
            else:
                trained = [train(gcfgs[0], bundles[0], cbs[0], control, gids[0])]
        except TrainingFailed:  # the callbacks recorded the failure; the others go on
            pass
        for r, cfg, bundle, res in zip(gids, gcfgs, bundles, trained, strict=True):
            if res is not None:
                save_result(store, r, cfg, bundle.info, res)
            out[r] = res
            if on_member_end:
                on_member_end(r, res)
    return out


def run_sweep(spec: SweepSpec, store: RunStore, control: RunControl | None = None,
              on_member_end: Callable[[MemberResult], None] | None = None) -> SweepResult:
    """Store and train a sweep in this process (the CLI's way; the app queues it instead)."""
    t0 = time.perf_counter()
    job_id, ids = create(spec, store)
    mem = members(spec)
    index = {r: i for i, r in enumerate(ids)}
    together = {r for g in plan(spec) if len(g) > 1 for r in (ids[i] for i in g)}
    results: dict[str, MemberResult] = {}

    def member_end(run_id: str, res: TrainResult | None) -> None:
        i = index[run_id]
        results[run_id] = _member_result(i, mem[i], run_id, res, run_id in together)
        if res is None:  # it never trained: stopped before it started, or its data failed
            rec = store.get(run_id)
            results[run_id].status = rec.status if rec else "failed"
        if on_member_end:
            on_member_end(results[run_id])

    store.update_job(job_id, status="running")
    train_members(store, ids, control, on_member_end=member_end)
    job = store.get_job(job_id)
    stopped = control is not None and control.stop_requested
    status = ("stopped" if stopped else "finished"
              if all(results[r].status != "failed" for r in ids) else "failed")
    store.update_job(job_id, status=status, message=control.reason if stopped else "")
    return SweepResult(job.name, spec.param, [results[r] for r in ids], bool(together),
                       time.perf_counter() - t0)


def _bundles(cfgs: Sequence[RunConfig]) -> list[data.DataBundle]:
    """Each config's data; configs with the same data share one bundle (one copy in memory)."""
    loaded: dict[str, data.DataBundle] = {}
    for c in cfgs:
        if _data_key(c) not in loaded:
            loaded[_data_key(c)] = load_bundle_for(c)
    return [loaded[_data_key(c)] for c in cfgs]


def _data_key(cfg: RunConfig) -> str:
    """Configs with equal keys load the same data (the seed matters for toy sets and splits)."""
    seeded = data.info(cfg.dataset).kind == "toy" or cfg.val_fraction > 0
    return str((cfg.dataset, cfg.normalize, cfg.train_subset, cfg.val_fraction, cfg.toy_size,
                cfg.toy_noise, cfg.seed if seeded else 0))


def _member_result(i: int, member, run_id: str, res: TrainResult | None,
                   together: bool) -> MemberResult:
    value, replicate, _ = member
    if res is None:
        return MemberResult(i, value, replicate, run_id, "failed", batched=together)
    e = res.end
    return MemberResult(i, value, replicate, run_id, e.status, e.test_accuracy, e.test_loss,
                        e.train_seconds, together)


def log_axis(param: str, values: Iterable) -> bool:
    """Whether a chart of this param reads better on a log axis (all values above 0)."""
    return param in LOG_SCALE and all(float(v) > 0 for v in values)


def load_sweep(store: RunStore, group: str) -> SweepResult | None:
    """A stored sweep read back from its job record and runs (None when the group has none).
    Runs grouped without a sweep record (a Catalogue experiment) take as their param the one
    setting their configs differ in."""
    runs = {r.id: r for r in store.list() if r.group_name == group}
    if not runs:
        return None
    jobs = [j for j in store.list_jobs("sweep") if j.name == group]  # newest first
    listed = [(r, v, k) for j in jobs[::-1] for r, v, k in j.spec["members"] if r in runs]
    if jobs and len(listed) == len(runs):  # (two sweeps may share a name: all of theirs)
        param, order = jobs[0].spec["param"], listed
    else:
        old = sorted(runs.values(), key=lambda r: (r.created, r.id))
        param = next((p for p in SWEEP_PARAMS if len({value_of(r.config, p) for r in old}) > 1),
                     "seed")
        value = (lambda c: c.seed) if param == "seed" else (lambda c: value_of(c, param))
        first = {}
        for r in old:
            first[value(r.config)] = min(first.get(value(r.config), r.config.seed), r.config.seed)
        order = [(r.id, value(r.config), r.config.seed - first[value(r.config)]) for r in old]
    out = [MemberResult(i, v, k, r, runs[r].status, runs[r].final_test_accuracy,
                        runs[r].final_test_loss, runs[r].train_seconds,
                        "at once" in runs[r].device)
           for i, (r, v, k) in enumerate(order)]
    recs = [runs[r] for r, _, _ in order]
    return SweepResult(group, param, out, any(m.batched for m in out),
                       max(r.updated for r in recs) - min(r.created for r in recs))


def stored_sweeps(store: RunStore) -> list[str]:
    """Group names of the stored sweeps, newest first."""
    return list(dict.fromkeys(r.group_name for r in store.list() if r.group_name))


def differing_fields(configs: Sequence[RunConfig]) -> dict[str, list]:
    """The config fields (the model spec's as spec.*) whose values differ between configs."""
    rows = []
    for cfg in configs:
        flat = {f.name: getattr(cfg, f.name) for f in fields(RunConfig) if f.name != "spec"}
        for key, value in asdict(cfg.model_spec()).items():
            flat[f"spec.{key}"] = str(value) if isinstance(value, (list, tuple)) else value
        rows.append(flat)
    keys = rows[0].keys() if rows else []
    return {k: [r[k] for r in rows] for k in keys if len({repr(r[k]) for r in rows}) > 1}
