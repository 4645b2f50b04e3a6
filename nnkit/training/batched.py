"""K copies of one architecture trained at once with torch.func: one forward, one backward.

Member k is what `train.train(cfgs[k], bundles[k])` would train, step for step:
- the same initial weights: torch.manual_seed(seed), then models.build_model, as train() does;
- the same batch order: each member keeps its own seeded generator and draws its own
  permutation every epoch, exactly like train(); a (K, B) index tensor gathers every member's
  batch at once (one shared order would be cheaper but would correlate the replicates);
- its own learning rate and weight decay, through torch.optim itself: the K inits are stacked
  with torch.func.stack_module_state and laid side by side in one (K, P) tensor; the forward
  pass sees (K, *shape) views of it, and the optimizer sees its K rows as K parameters, in
  one param group per (lr, weight_decay), built by train.make_optimizer as train() builds its
  own (fused Adam/AdamW on the CPU). The schedule (one-cycle, cosine, step) is torch's own,
  run on a stand-in optimizer, and scales every member's rate alike.
Only dropout differs from train(): vmap(randomness="different") draws each member's masks from
the global generator, so a run with dropout matches train() statistically, not bit for bit.
BatchNorm (running statistics updated in place) and the NumPy engine are not batched.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state, vmap

from nnkit import device as devices
from nnkit import metrics, models
from nnkit.config import RunConfig, check
from nnkit.data import DataBundle
from nnkit.training import cpu
from nnkit.training.clock import Clock, batching
from nnkit.training.control import RunControl, StopTraining
from nnkit.training.events import Callback, Callbacks, EpochEnd, RunEnd, RunStart, StepEnd
from nnkit.training.loop import (
    EVAL_BATCH,
    failed,
    make_optimizer,
    make_scheduler,
    on_device_or_cpu,
)
from nnkit.training.results import Evaluation, TrainResult
from nnkit.training.status import divergence_message

PER_MEMBER = ("lr", "weight_decay", "seed")  # what members of one batch may differ in


def unsupported(cfg: RunConfig) -> str:
    """Why cfg's model cannot be trained batched ('' when it can)."""
    spec = cfg.model_spec()
    if spec.engine != "torch":
        return "the NumPy engine trains one network at a time"
    if spec.batch_norm or any(b.batch_norm for b in spec.conv):
        return "batch norm updates running statistics in place, which vmap cannot batch"
    return ""


def not_worth_it(cfg: RunConfig) -> str:
    """Why training cfg's replicates at once would not be faster ('' when it would)."""
    if unsupported(cfg):
        return unsupported(cfg)
    if cfg.model_spec().kind == "cnn" and devices.pick(cfg.device)[0].type == "cpu":
        return ("convolutions batched with vmap ran at half the speed of one network at a "
                "time on a CPU")
    return ""


def batch_key(cfg: RunConfig) -> str:
    """Configs with equal keys differ only in lr, weight decay and seed: they batch together."""
    return cfg.with_changes(lr=1.0, weight_decay=0.0, seed=0).to_json()


class _Data:
    """Train/val/test tensors of K members: shared (1, N, ...) or each its own (K, N, ...)."""

    def __init__(self, bundles: Sequence[DataBundle], device: torch.device) -> None:
        self.bundle = bundles[0]
        shared = all(b is bundles[0] for b in bundles)
        parts = bundles[:1] if shared else bundles
        stack = lambda name: (None if getattr(parts[0], name) is None
                              else torch.stack([getattr(b, name) for b in parts]).to(device))
        self.train_x, self.train_y = stack("train_x"), stack("train_y")  # (1|K, N, ...)
        self.val_x, self.val_y = stack("val_x"), stack("val_y")
        self.test_x, self.test_y = stack("test_x"), stack("test_y")
        self.k = len(bundles)
        n = self.train_y.shape[1]
        # row offsets into the flattened (K*N, ...) data: index_select is ~15x faster than
        # advanced indexing with a (K, 1) and a (K, B) index
        self.offsets = (torch.arange(self.k, device=device) * n if not shared else
                        torch.zeros(self.k, dtype=torch.int64, device=device))[:, None]

    def as_float(self, raw: torch.Tensor) -> torch.Tensor:
        """(K, B, ...) raw -> (K, B, ...) as the model sees it (normalized per channel)."""
        k, b = raw.shape[:2]
        return self.bundle.as_float(raw.reshape(k * b, *raw.shape[2:])).view(k, b, *raw.shape[2:])

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Every member's batch from a (K, B) index tensor: x (K, B, ...), y (K, B)."""
        flat = (idx + self.offsets).reshape(-1)
        x = self.train_x.flatten(0, 1).index_select(0, flat)
        y = self.train_y.flatten(0, 1).index_select(0, flat)
        return self.as_float(x.view(*idx.shape, *x.shape[1:])), y.view(idx.shape)


def train_batched(cfgs: Sequence[RunConfig], bundles: Sequence[DataBundle],
                  callbacks: Sequence[Sequence[Callback]] | None = None,
                  control: RunControl | None = None,
                  run_ids: Sequence[str] | None = None) -> list[TrainResult]:
    """Train K configs that differ only in lr, weight decay and seed, all at once.

    callbacks[k] are member k's listeners (ordinary Callbacks: a StoreWriter works as is); they
    hear the same events train() would send them. Returns one TrainResult per member."""
    k = len(cfgs)
    if k == 0 or len(bundles) != k:
        raise ValueError("give one bundle per config, and at least one config")
    for cfg in cfgs:
        check(cfg)
        if unsupported(cfg):
            raise ValueError(f"cannot train {cfg.model} batched: {unsupported(cfg)}")
    if len({batch_key(c) for c in cfgs}) > 1:
        raise ValueError(f"batched members may differ only in {', '.join(PER_MEMBER)}")
    if len({(len(b.train_y), len(b.test_y), 0 if b.val_y is None else len(b.val_y))
            for b in bundles}) > 1:
        raise ValueError("batched members need data sets of the same sizes")
    callbacks = [Callbacks(c) for c in callbacks] if callbacks is not None else [
        Callbacks() for _ in cfgs]
    run_ids = list(run_ids) if run_ids is not None else [""] * k
    control = control or RunControl()
    device, notice = devices.pick(cfgs[0].device)
    try:
        results, oom = on_device_or_cpu(
            device, lambda d: _train_on(cfgs, bundles, d, callbacks, control, run_ids))
    except Exception as e:
        raise failed(e, [cb for cbs in callbacks for cb in cbs.members]) from e
    notice = oom or notice
    for r in results:
        r.notice = notice
    return results


@torch.no_grad()
def _evaluate_all(forward, params, buffers, x, y, data: _Data,
                  full: bool = False) -> tuple[list[float], list[float]] | list[Evaluation]:
    """Every member's loss and accuracy on (1|K, N, ...) inputs; with full=True an Evaluation
    per member, as train.evaluate(full=True) gives for one model."""
    losses = torch.zeros(data.k, device=x.device)
    correct = torch.zeros(data.k, device=x.device, dtype=torch.int64)
    probs = []
    for i in range(0, x.shape[1], EVAL_BATCH):
        xb = data.as_float(x[:, i : i + EVAL_BATCH]).expand(data.k, -1, *x.shape[2:])
        yb = y[:, i : i + EVAL_BATCH].expand(data.k, -1)
        logits = forward(params, buffers, xb).float()  # (K, B, classes)
        losses += F.cross_entropy(logits.transpose(1, 2), yb, reduction="none").sum(1)
        correct += (logits.argmax(2) == yb).sum(1)
        if full:
            probs.append(logits.softmax(2).cpu())
    n = max(1, x.shape[1])
    loss, acc = (losses / n).tolist(), (correct.double() / n).tolist()
    if not full:
        return loss, acc
    p = torch.cat(probs, 1)  # (K, N, classes)
    classes, labels = p.shape[2], y.expand(data.k, -1).cpu()
    out = []
    for k in range(data.k):
        preds = p[k].argmax(1)
        cm = metrics.confusion_matrix(preds, labels[k], classes)
        out.append(Evaluation(loss[k], acc[k], preds.numpy(), p[k].numpy().astype(np.float32),
                              cm.numpy()))
    return out


def _member_state(params: dict, buffers: dict, keys: Sequence[str], k: int) -> dict:
    """Member k's state dict, on the CPU, in the model's own key order."""
    both = {**params, **buffers}
    return {key: both[key][k].detach().cpu().clone() for key in keys}


class _Flat:
    """K members' parameters side by side in one (K, P) leaf, seen as (K, *shape) views by the
    forward pass and as K rows (aliases of the same memory) by the optimizer."""

    def __init__(self, stacked: dict[str, torch.Tensor]) -> None:
        k = next(iter(stacked.values())).shape[0]
        self.names = list(stacked)
        self.shapes = [t.shape[1:] for t in stacked.values()]
        self.sizes = [t[0].numel() for t in stacked.values()]
        self.data = torch.cat([t.detach().reshape(k, -1) for t in stacked.values()], 1)
        self.data.requires_grad_()
        # detached rows are leaves torch.optim accepts; updating them updates data in place
        self.rows = list(self.data.detach().unbind(0))

    def share_grad(self) -> None:
        """Give each row its slice of data.grad (a view: nothing is copied)."""
        for row, grad in zip(self.rows, self.data.grad.unbind(0), strict=True):
            row.grad = grad

    def views(self) -> dict[str, torch.Tensor]:
        """{name: (K, *shape)}; split's backward gathers every gradient into data.grad."""
        parts = self.data.split(self.sizes, dim=1)
        return {n: p.view(-1, *s) for n, p, s in zip(self.names, parts, self.shapes, strict=True)}


def _train_on(cfgs: Sequence[RunConfig], bundles: Sequence[DataBundle], device: torch.device,
              callbacks: list[Callbacks], control: RunControl,
              run_ids: list[str]) -> list[TrainResult]:
    cfg, k = cfgs[0], len(cfgs)
    spec, info = cfg.model_spec(), bundles[0].info
    governors = cpu.governors(device)  # threads follow the machine's load
    nets = []
    for c in cfgs:  # each member's init is exactly train()'s for its seed
        torch.manual_seed(c.seed)
        nets.append(models.build_model(spec, info.input_shape, info.num_classes).to(device))
    keys = list(nets[0].state_dict())
    stacked, buffers = stack_module_state(nets)  # (K, ...) each
    flat = _Flat(stacked)
    base = copy.deepcopy(nets[0]).to("meta")
    forward = vmap(lambda p, b, x: functional_call(base, (p, b), (x,)), randomness="different")
    data = _Data(bundles, device)
    n = data.train_y.shape[1]
    bs, steps_per_epoch = batching(n, cfg.batch_size)  # as train()

    groups: dict[tuple[float, float], list[torch.Tensor]] = {}  # one per (lr, weight decay)
    # members alike share a group: fewer optimizer calls
    for row, c in zip(flat.rows, cfgs, strict=True):
        groups.setdefault((c.lr, c.weight_decay), []).append(row)
    opt = make_optimizer(cfg, [{"params": rows, "lr": lr, "weight_decay": wd}
                               for (lr, wd), rows in groups.items()], device)
    # torch's own schedule on a stand-in optimizer: its rate / cfg.lr scales every member
    stand_in = make_optimizer(cfg, [torch.zeros(1, requires_grad=True)], torch.device("cpu"))
    sched = make_scheduler(cfg, stand_in, steps_per_epoch)
    gens = [torch.Generator().manual_seed(c.seed) for c in cfgs]
    dev_name = devices.describe(device)
    num_params = models.num_params(nets[0])
    del nets
    for i, cbs in enumerate(callbacks):
        start = RunStart(run_ids[i], f"{dev_name}, {k} at once (torch.func)", num_params,
                         cfg.epochs, steps_per_epoch, n)
        cbs.on_run_start(start)

    histories: list[list[EpochEnd]] = [[] for _ in cfgs]
    diverged: list[str] = [""] * k
    clock = Clock()
    status, message = "finished", ""
    alive = lambda: [i for i in range(k) if not diverged[i]]
    try:
        for epoch in range(1, cfg.epochs + 1):
            base.train()
            perms = torch.stack([torch.randperm(n, generator=g) for g in gens]).to(device)
            loss_sum = torch.zeros(k, device=device)
            correct = torch.zeros(k, device=device, dtype=torch.int64)
            for s in range(steps_per_epoch):
                control.checkpoint()  # blocks while paused; raises StopTraining on stop
                clock.start_step()
                idx = perms[:, s * bs : (s + 1) * bs]  # (K, B): each member's own batch
                xb, yb = data.batch(idx)
                logits = forward(flat.views(), buffers, xb)  # (K, B, classes)
                losses = F.cross_entropy(logits.transpose(1, 2), yb, reduction="none",
                                         label_smoothing=cfg.label_smoothing).mean(1)  # (K,)
                flat.data.grad = None
                losses.sum().backward()  # members share no parameter: grads stay separate
                flat.share_grad()
                group = stand_in.param_groups[0]
                factor = group["lr"] / cfg.lr  # the schedule's share of the peak rate
                for mine, (lr, _) in zip(opt.param_groups, groups, strict=True):
                    mine["lr"] = lr * factor
                    for key in ("momentum", "betas"):  # one-cycle cycles them too
                        if key in group:
                            mine[key] = group[key]
                opt.step()
                if sched is not None:
                    stand_in.step()  # no gradients: only keeps the scheduler's bookkeeping
                    sched.step()
                values = losses.detach().tolist()  # synced the device
                loss_sum += losses.detach() * yb.shape[1]
                correct += (logits.detach().argmax(2) == yb).sum(1)
                for i in alive():
                    if not math.isfinite(values[i]):
                        diverged[i] = divergence_message(cfgs[i].optimizer, cfgs[i].lr,
                                                         values[i], clock.step, epoch)
                        continue
                    event = StepEnd(epoch, clock.step, values[i], cfgs[i].lr * factor)
                    callbacks[i].on_step_end(event)
                for g in governors:
                    g.tick()
                clock.end_step(yb.shape[1])
                if not alive():
                    break
            seen, images_per_second = clock.end_epoch()
            if not alive():
                break
            base.eval()
            params = flat.views()
            val = (_evaluate_all(forward, params, buffers, data.val_x, data.val_y, data)
                   if data.val_x is not None else ([None] * k, [None] * k))
            test = (_evaluate_all(forward, params, buffers, data.test_x, data.test_y, data)
                    if cfg.eval_each_epoch or epoch == cfg.epochs else ([None] * k, [None] * k))
            train_loss, train_acc = (loss_sum / seen).tolist(), (correct.double() / seen).tolist()
            for i in alive():
                event = EpochEnd(epoch, train_loss[i], train_acc[i], val[0][i], val[1][i],
                                 test[0][i], test[1][i], images_per_second, clock.seconds)
                histories[i].append(event)
                state = _member_state(params, buffers, keys, i) if callbacks[i].members else {}
                callbacks[i].on_checkpoint(epoch, state)
                callbacks[i].on_epoch_end(event)
    except StopTraining:
        status, message = "stopped", f"{control.reason} after {clock.step} steps"
    clock.cut_short()

    results, params = [], flat.views()
    base.eval()
    evaluations = _evaluate_all(forward, params, buffers, data.test_x, data.test_y, data, True)
    for i, c in enumerate(cfgs):
        model = models.build_model(spec, info.input_shape, info.num_classes)
        model.load_state_dict(_member_state(params, buffers, keys, i))
        evaluation = None if diverged[i] else evaluations[i]
        end = RunEnd(
            status="diverged" if diverged[i] else status,
            message=diverged[i] or message
            or f"finished {c.epochs} epoch{'s' * (c.epochs != 1)}, {k} networks at once",
            train_seconds=clock.seconds,
            test_loss=evaluation.loss if evaluation else None,
            test_accuracy=evaluation.accuracy if evaluation else None,
            metrics={"images_per_second": clock.images_per_second(), "steps": clock.step,
                     "epochs_done": len(histories[i]), "batched": k},
        )
        callbacks[i].on_run_end(end)
        results.append(TrainResult(end, model, evaluation, histories[i], dev_name))
    return results
