"""How long training will take on this 2-core CPU: the estimates the Experiments page and the
CLI print before a sweep starts, and the queue's guess of when a waiting job starts (measured
figures, ±30 %). Torch is imported only for a custom model's size."""

from __future__ import annotations

import dataclasses

import numpy as np

from nnkit import datainfo as data
from nnkit.config import RunConfig

# images/s of train() per preset at batch 128, MNIST, on a shared 2-core CPU (measured 2026-11,
# ±30 %; vgg-small on CIFAR-10 a guess)
IMAGES_PER_SECOND = {"mlp-64-64": 60_000, "mlp-128": 60_000, "mlp-500-300": 17_000,
                     "cnn-10-20": 7_500, "fast-cnn": 5_700, "lenet5": 7_400, "vgg-small": 400,
                     "numpy-mlp-100": 100_000}
STEP_SECONDS = 0.0006  # a training step's fixed cost (what dominates on 2-D toy sets)
# 15 MLPs at once vs one after another (benchmarks/batched_speed.py): 2.4x for 55k parameters
# each, 1.15x for 545k (the matrix products then dominate, and batching does not shrink them)
SPEEDUP_SMALL, SPEEDUP_LARGE = (6e4, 2.4), (5e5, 1.15)



def _train_size(cfg: RunConfig) -> tuple[int, int]:
    info = data.info(cfg.dataset)
    if info.kind == "toy":
        n, test = cfg.toy_size, max(200, cfg.toy_size // 2)
    else:
        n, test = info.sizes or ((50_000 if cfg.dataset == "cifar10" else 60_000), 10_000)
    n = min(n, cfg.train_subset) if cfg.train_subset else n
    return n - int(round(n * cfg.val_fraction)), test


def _seconds_per_image(cfg: RunConfig) -> float:
    if cfg.model in IMAGES_PER_SECOND:
        per = 1 / IMAGES_PER_SECOND[cfg.model] - STEP_SECONDS / 128
    else:  # a custom model: from its size (a dense parameter costs ~3 multiply-adds an image)
        from nnkit import models

        info = data.info(cfg.dataset)
        rows = models.summary(cfg.model_spec(), info.input_shape, info.num_classes)
        macs = sum(r.params * (r.output_shape[-1] * r.output_shape[-2] if len(r.output_shape) == 3
                               else 1) for r in rows)
        per = 3 * macs / 2e10  # ~20 GMAC/s measured on mlp-500-300
    return max(per, 1e-7)


def groups_seconds(groups: list[list[RunConfig]]) -> float:
    """Rough training time of groups trained one after another, each group's configs at once
    (from IMAGES_PER_SECOND)."""
    total = 0.0
    for cfgs in groups:
        n, test = _train_size(cfgs[0])
        steps = -(-n // min(cfgs[0].batch_size, n))
        one = cfgs[0].epochs * (steps * STEP_SECONDS + (n + test / 3) * _seconds_per_image(cfgs[0]))
        total += one * len(cfgs) / _speedup(cfgs[0], len(cfgs))
    return total


def run_seconds(cfg: RunConfig) -> float:
    """Rough training time of one run of a preset model, without torch (a custom model: as
    fast-cnn, the slowest MNIST preset but one)."""
    if cfg.model not in IMAGES_PER_SECOND:
        cfg = dataclasses.replace(cfg, model="fast-cnn", spec=None)
    n, test = _train_size(cfg)
    steps = -(-n // min(cfg.batch_size, n))
    return cfg.epochs * (steps * STEP_SECONDS + (n + test / 3) * _seconds_per_image(cfg))


def _speedup(cfg: RunConfig, k: int) -> float:
    """How much faster k members train at once than one after another (1 for k = 1)."""
    from nnkit import models

    if k == 1:
        return 1.0
    info = data.info(cfg.dataset)
    n = models.num_params(models.build_model(cfg.model_spec(), info.input_shape,
                                             info.num_classes))
    (n0, s0), (n1, s1) = SPEEDUP_SMALL, SPEEDUP_LARGE
    t = min(1.0, max(0.0, (np.log(n) - np.log(n0)) / (np.log(n1) - np.log(n0))))
    return 1 + (s0 + (s1 - s0) * t - 1) * min(1.0, (k - 1) / 14)
