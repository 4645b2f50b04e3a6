"""The training loop: in-memory batches, events to callbacks, pause/stop, divergence, evaluation."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nnkit import device as devices
from nnkit import metrics, models
from nnkit.config import RunConfig, check
from nnkit.data import DataBundle
from nnkit.runs import StoreError
from nnkit.training import cpu
from nnkit.training.clock import Clock, batching
from nnkit.training.control import RunControl, StopTraining
from nnkit.training.events import Callback, Callbacks, EpochEnd, RunEnd, RunStart, StepEnd
from nnkit.training.numpy_engine import train_numpy
from nnkit.training.results import Evaluation, TrainingFailed, TrainResult
from nnkit.training.status import SAFE_LR, divergence_message

EVAL_BATCH = 1000
CHANCE_MARGIN = 0.05  # a test accuracy within this of chance level learned nothing
WEIGHTS_EVERY = 2.0  # seconds between first-layer copies sent to on_weights


def make_optimizer(cfg: RunConfig, params, device: torch.device) -> torch.optim.Optimizer:
    """The configured optimizer; fused kernels where the device has them (3x faster on CPU)."""
    kw: dict = {"lr": cfg.lr, "weight_decay": cfg.weight_decay}
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, momentum=cfg.momentum, nesterov=cfg.nesterov, **kw)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, momentum=cfg.momentum, **kw)
    cls = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
    params = list(params)
    try:
        return cls(params, fused=device.type in ("cpu", "cuda"), **kw)
    except (RuntimeError, TypeError):
        return cls(params, **kw)


def make_scheduler(cfg: RunConfig, opt: torch.optim.Optimizer, steps_per_epoch: int):
    """The per-step learning-rate schedule (None for a constant rate)."""
    total = cfg.epochs * steps_per_epoch
    if cfg.schedule == "onecycle":
        # torch divides by zero when the warm-up is exactly one step (pct_start * total == 1:
        # a 4-step run, e.g. 200 toy points in one epoch); a slightly longer one avoids it
        pct = 0.3 if total == 4 else 0.25
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=total,
                                                   pct_start=pct)
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
    if cfg.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.step_size * steps_per_epoch,
                                               gamma=cfg.gamma)
    return None


def _batches(x: torch.Tensor, bundle: DataBundle, batch: int, channels_last: bool):
    for i in range(0, len(x), batch):
        xb = bundle.as_float(x[i : i + batch])
        yield i, xb.contiguous(memory_format=torch.channels_last) if channels_last else xb


@torch.inference_mode()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, bundle: DataBundle,
             full: bool = False, channels_last: bool = False) -> Evaluation | tuple[float, float]:
    """Loss and accuracy on (x, y); with full=True an Evaluation with preds, probs, confusion."""
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=x.device)
    probs = []
    correct = torch.zeros((), device=x.device, dtype=torch.int64)
    for i, xb in _batches(x, bundle, EVAL_BATCH, channels_last):
        yb = y[i : i + EVAL_BATCH]
        logits = model(xb).float()
        loss_sum += F.cross_entropy(logits, yb, reduction="sum")
        correct += (logits.argmax(1) == yb).sum()
        if full:
            probs.append(logits.softmax(1).cpu())
    model.train(was_training)
    n = max(1, len(x))
    loss, acc = loss_sum.item() / n, correct.item() / n
    if not full:
        return loss, acc
    p = torch.cat(probs) if probs else torch.zeros(0, bundle.info.num_classes)
    preds = p.argmax(1)
    cm = metrics.confusion_matrix(preds, y.cpu(), bundle.info.num_classes)
    return Evaluation(loss, acc, preds.numpy(), p.numpy().astype(np.float32), cm.numpy())


def finished_message(cfg: RunConfig, ev: Evaluation) -> str:
    """How a finished run ended; says so when its test accuracy is no better than guessing."""
    done = f"finished {cfg.epochs} epoch{'s' * (cfg.epochs != 1)}"
    classes = len(ev.confusion)
    counts = ev.confusion.sum(1)  # test images per true label
    # chance: what always answering the commonest label scores (1 / classes when balanced)
    chance = max(1 / classes, counts.max() / max(1, counts.sum())) if classes else 1.0
    if ev.accuracy > chance + CHANCE_MARGIN:
        return done
    safe = SAFE_LR[cfg.optimizer]
    hint = (f"try a smaller learning rate ({safe:g} suits {cfg.optimizer})" if cfg.lr > safe
            else "try more epochs, another learning rate, or normalized inputs")
    return (f"{done}, but it did not learn: {ev.accuracy * 100:.1f} % test accuracy is chance "
            f"level for {classes} classes; {hint}")


def train(cfg: RunConfig, bundle: DataBundle, callbacks: Sequence[Callback] = (),
          control: RunControl | None = None, run_id: str = "") -> TrainResult:
    """Train cfg's model on bundle, emitting events; falls back to the CPU if the GPU runs out."""
    check(cfg)
    device, notice = devices.pick(cfg.device)
    if cfg.model_spec().engine == "numpy":
        return train_numpy(cfg, bundle, callbacks, control, run_id)
    control = control or RunControl()
    try:
        result, oom = on_device_or_cpu(
            device, lambda d: _train_on(cfg, bundle, d, callbacks, control, run_id))
    except Exception as e:
        raise failed(e, callbacks) from e
    result.notice = oom or notice
    return result


def on_device_or_cpu(device: torch.device, attempt):
    """attempt(device), or attempt(cpu) if the GPU runs out of memory; returns (result, notice)."""
    try:
        return attempt(device), ""
    except torch.OutOfMemoryError:
        if device.type == "cpu":
            raise
        torch.cuda.empty_cache()
        notice = f"{device.type} ran out of memory; trained on the CPU instead"
        return attempt(torch.device("cpu")), notice


def failed(error: Exception, callbacks: Sequence[Callback]) -> TrainingFailed:
    """Tell every callback the run failed; the TrainingFailed to raise."""
    # the store's errors (a full disk, say) name their file and cause already
    message = str(error) if isinstance(error, StoreError) else f"{type(error).__name__}: {error}"
    end = RunEnd("failed", message, 0.0, None, None)
    Callbacks(callbacks).on_run_end(end)
    return TrainingFailed(end.message)


def _train_on(cfg: RunConfig, bundle: DataBundle, device: torch.device,
              callbacks: Sequence[Callback], control: RunControl, run_id: str) -> TrainResult:
    spec = cfg.model_spec()
    callbacks = Callbacks([*callbacks, *cpu.governors(device)])  # threads follow the load
    torch.manual_seed(cfg.seed)
    model = models.build_model(spec, bundle.info.input_shape, bundle.info.num_classes)
    channels_last = spec.kind == "cnn" and device.type in ("cpu", "cuda")
    model = (model.to(device, memory_format=torch.channels_last) if channels_last
             else model.to(device))
    data = bundle.to(device)
    n = len(data.train_y)
    bs, steps_per_epoch = batching(n, cfg.batch_size)
    opt = make_optimizer(cfg, model.parameters(), device)
    sched = make_scheduler(cfg, opt, steps_per_epoch)
    gen = torch.Generator().manual_seed(cfg.seed)
    dev_name = devices.describe(device)
    start = RunStart(run_id, dev_name, models.num_params(model), cfg.epochs, steps_per_epoch, n)
    callbacks.on_run_start(start)

    history: list[EpochEnd] = []
    first = next(p for p in model.parameters() if p.ndim in (2, 4))  # conv1 or the first dense
    last_weights = time.perf_counter()
    clock = Clock()
    status, message = "finished", ""
    try:
        for epoch in range(1, cfg.epochs + 1):
            model.train()
            perm = torch.randperm(n, generator=gen).to(device)
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), device=device, dtype=torch.int64)
            for s in range(steps_per_epoch):
                control.checkpoint()  # blocks while paused; raises StopTraining on stop
                clock.start_step()  # time spent paused is not training time
                idx = perm[s * bs : (s + 1) * bs]
                xb, yb = data.as_float(data.train_x[idx]), data.train_y[idx]
                if channels_last:
                    xb = xb.contiguous(memory_format=torch.channels_last)
                logits = model(xb)
                loss = F.cross_entropy(logits, yb, label_smoothing=cfg.label_smoothing)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                lr = opt.param_groups[0]["lr"]  # the rate this step used
                if sched is not None:
                    sched.step()
                value = loss.item()  # synced the device
                if not math.isfinite(value):
                    raise _Diverged(divergence_message(cfg.optimizer, cfg.lr, value, clock.step,
                                                       epoch))
                loss_sum += loss.detach() * len(yb)
                correct += (logits.detach().argmax(1) == yb).sum()
                callbacks.on_step_end(StepEnd(epoch, clock.step, value, lr))
                if time.perf_counter() - last_weights > WEIGHTS_EVERY:
                    last_weights = time.perf_counter()
                    w = first.detach().float().cpu().numpy().copy()
                    callbacks.on_weights(clock.step, w)
                clock.end_step(len(yb))
            seen, images_per_second = clock.end_epoch()
            val = (evaluate(model, data.val_x, data.val_y, data, channels_last=channels_last)
                   if data.val_x is not None else (None, None))
            test = (evaluate(model, data.test_x, data.test_y, data, channels_last=channels_last)
                    if cfg.eval_each_epoch or epoch == cfg.epochs else (None, None))
            event = EpochEnd(epoch, loss_sum.item() / seen, correct.item() / seen, val[0], val[1],
                             test[0], test[1], images_per_second, clock.seconds)
            history.append(event)
            state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            callbacks.on_checkpoint(epoch, state)
            callbacks.on_epoch_end(event)
    except StopTraining:
        status, message = "stopped", f"{control.reason} after {clock.step} steps"
    except _Diverged as e:
        status, message = "diverged", str(e)
    clock.cut_short()

    evaluation = None
    if status != "diverged":
        evaluation = evaluate(model, data.test_x, data.test_y, data, full=True,
                              channels_last=channels_last)
    end = RunEnd(
        status=status,
        message=message or finished_message(cfg, evaluation),
        train_seconds=clock.seconds,
        test_loss=evaluation.loss if evaluation else None,
        test_accuracy=evaluation.accuracy if evaluation else None,
        metrics={"images_per_second": clock.images_per_second(), "steps": clock.step,
                 "epochs_done": len(history)},
    )
    callbacks.on_run_end(end)
    model = model.cpu().to(memory_format=torch.contiguous_format)
    return TrainResult(end, model, evaluation, history, dev_name)


class _Diverged(Exception):
    pass
