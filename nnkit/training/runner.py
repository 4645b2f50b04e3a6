"""Training a config into the run store: the store writer callback and the one-call runner."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from nnkit import data, models
from nnkit.config import RunConfig, check
from nnkit.runs import RunStore, StoreError
from nnkit.training.control import RunControl
from nnkit.training.events import Callback, EpochEnd, RunEnd, RunStart, StepEnd
from nnkit.training.loop import train
from nnkit.training.results import TrainingFailed, TrainResult
from nnkit.training.tensorboard_log import TensorBoardWriter


class StoreWriter(Callback):
    """Writes a run's progress to the store as it happens (steps batched about once a second)."""

    def __init__(self, store: RunStore, run_id: str, cfg: RunConfig, info: data.DatasetInfo,
                 flush_seconds: float = 1.0) -> None:
        self.store, self.run_id, self.cfg, self.info = store, run_id, cfg, info
        self.flush_seconds = flush_seconds
        self._steps: list[tuple[int, int, float, float]] = []
        self._last_flush = time.monotonic()

    def flush(self) -> None:
        """Write buffered step rows."""
        if self._steps:
            self.store.add_steps(self.run_id, self._steps)
            self._steps = []
        self._last_flush = time.monotonic()

    def on_run_start(self, event: RunStart) -> None:
        self.store.update(self.run_id, status="running", device=event.device,
                          num_params=event.num_params, pid=os.getpid(), message="")

    def on_step_end(self, event: StepEnd) -> None:
        self._steps.append((event.step, event.epoch, event.loss, event.lr))
        if time.monotonic() - self._last_flush > self.flush_seconds:
            self.flush()

    def on_checkpoint(self, epoch: int, state: dict) -> None:
        spec = self.cfg.model_spec()
        self.store.save_checkpoint(self.run_id, state, spec.to_dict(), self.info.input_shape,
                                   self.info.num_classes, epoch)
        first = first_weight(state)
        if first is not None:  # snapshots let the Weights view replay training
            self.store.save_arrays(self.run_id, f"first_layer_e{epoch:03d}",
                                   weight=first.numpy().astype(np.float16))

    def on_epoch_end(self, event: EpochEnd) -> None:
        self.flush()
        self.store.add_epoch(self.run_id, event)

    def on_run_end(self, event: RunEnd) -> None:
        """A failed run's ending is written now; any other is written by save_result, after
        what the run learned, so a run never reads as ended before its checkpoint exists."""
        try:
            self.flush()
            if event.status == "failed":
                self.store.finish(self.run_id, event)
        except StoreError:
            if event.status != "failed":
                raise
            # the failure was likely the store's own (a full disk): the caller reports it


def store_callbacks(store: RunStore, run_id: str, cfg: RunConfig, info: data.DatasetInfo,
                    flush_seconds: float = 1.0) -> list[Callback]:
    """What every stored run is heard by: the store writer and its TensorBoard events."""
    return [StoreWriter(store, run_id, cfg, info, flush_seconds),
            TensorBoardWriter(store.run_dir(run_id), cfg, info.input_shape)]


def first_weight(state: dict) -> torch.Tensor | None:
    """The first layer's weight tensor in a state dict (conv1 or the first dense layer)."""
    for key, value in state.items():
        if key.endswith("weight") and value.ndim in (2, 4):
            return value.detach().float().cpu()
    return None


def run_and_store(cfg: RunConfig, store: RunStore, *, run_id: str | None = None,
                  callbacks: Sequence[Callback] = (), control: RunControl | None = None,
                  bundle: data.DataBundle | None = None, name: str = "") -> tuple[str, TrainResult]:
    """Train cfg, writing everything to the store; returns the run id and the result."""
    check(cfg)
    if bundle is None:  # before creating the run: missing data must not leave a ghost run
        bundle = load_bundle_for(cfg)
    run_id = run_id or store.create_run(cfg, name=name)
    try:
        result = train(cfg, bundle, [*store_callbacks(store, run_id, cfg, bundle.info),
                                     *callbacks], control, run_id)
    except TrainingFailed as e:
        if isinstance(e.__cause__, StoreError):  # e.g. a full disk: say that, not its traceback
            raise e.__cause__ from None
        raise
    try:
        save_result(store, run_id, cfg, bundle.info, result)
    except StoreError as e:  # trained, but what it learned could not be kept
        with contextlib.suppress(StoreError):  # a full disk may refuse this too
            store.update(run_id, status="failed", message=str(e))
        raise
    return run_id, result


def load_bundle_for(cfg: RunConfig) -> data.DataBundle:
    """The data a config trains on (preparing the files first if needed)."""
    data.prepare(cfg.dataset)
    return data.load_bundle(cfg.dataset, normalize=cfg.normalize, train_subset=cfg.train_subset,
                            val_fraction=cfg.val_fraction, seed=cfg.seed,
                            toy_size=cfg.toy_size, toy_noise=cfg.toy_noise)


def save_result(store: RunStore, run_id: str, cfg: RunConfig, info: data.DatasetInfo,
                result: TrainResult) -> None:
    """Keep what was learned (also after a stop) and the final evaluation for inspection,
    then record how the run ended (StoreWriter leaves that to this)."""
    if result.end.status in ("finished", "stopped"):
        state = {k: v.detach().cpu() for k, v in result.model.state_dict().items()}
        store.save_checkpoint(run_id, state, cfg.model_spec().to_dict(), info.input_shape,
                              info.num_classes, len(result.history))
    ev = result.evaluation
    if ev is not None:
        store.save_arrays(run_id, "evaluation", preds=ev.preds.astype(np.int16),
                          probs=ev.probs.astype(np.float16), confusion=ev.confusion,
                          loss=np.float64(ev.loss), accuracy=np.float64(ev.accuracy))
    store.finish(run_id, result.end)
    if result.notice:
        rec = store.get(run_id)
        if rec is not None:
            store.update(run_id, message=f"{rec.message} ({result.notice})".strip())


def load_model(store: RunStore, run_id: str) -> tuple[nn.Module, models.ModelSpec, dict]:
    """The run's trained model in eval mode on the CPU, its spec, and the checkpoint meta."""
    ckpt = store.load_checkpoint(run_id)
    spec = models.ModelSpec.from_dict(ckpt["spec"])
    model = models.build_model(spec, tuple(ckpt["input_shape"]), ckpt["num_classes"])
    try:
        model.load_state_dict(ckpt["state_dict"])
    except (RuntimeError, KeyError) as e:
        from nnkit.runs import StoreError

        raise StoreError(f"{store.checkpoint_path(run_id)}: weights do not fit the model "
                         f"({str(e).splitlines()[0][:160]})") from None
    return model.eval(), spec, ckpt
