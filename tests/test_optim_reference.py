"""nesterov and label smoothing change the updates as torch.optim.SGD and F.cross_entropy do:
train() and the batched trainer against a training loop written out by hand."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from helpers import tiny_bundle

from nnkit import models
from nnkit.config import RunConfig
from nnkit.data import DataBundle
from nnkit.models import ModelSpec
from nnkit.training.batched import train_batched
from nnkit.training.loop import train

N_TRAIN, N_TEST, CLASSES = 32, 16, 3
STEPS = 5
SEEDS = (0, 1)  # the batched trainer trains both at once
ATOL = 1e-6  # float32 sums in another order (1e-7 seen)
MOVES = 1e-2  # either setting moves some weight by more in 5 steps (0.07 and 0.18 seen)
# one full batch per epoch, so step k is epoch k and the shuffle only reorders the batch,
# which the mean loss does not see
BASE = RunConfig(dataset="mnist", model="custom", spec=ModelSpec("mlp", (16,)), optimizer="sgd",
                 lr=0.1, momentum=0.9, weight_decay=1e-3, batch_size=N_TRAIN, epochs=STEPS,
                 schedule="none", device="cpu")
SETTINGS = [  # (on, off)
    ({"nesterov": True}, {"nesterov": False}),
    ({"label_smoothing": 0.2}, {"label_smoothing": 0.0}),
]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def bundle() -> DataBundle:
    return tiny_bundle(N_TRAIN, N_TEST, CLASSES)


def reference_weights(cfg: RunConfig, bundle: DataBundle) -> dict[str, torch.Tensor]:
    """cfg's model after cfg.epochs full-batch steps of torch.optim.SGD on F.cross_entropy,
    from the init train() starts from (the seed, then build_model)."""
    torch.manual_seed(cfg.seed)
    model = models.build_model(cfg.model_spec(), bundle.info.input_shape, bundle.info.num_classes)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                          nesterov=cfg.nesterov, weight_decay=cfg.weight_decay)
    x, y = bundle.as_float(bundle.train_x), bundle.train_y  # (N, 1, 8, 8), (N,)
    for _ in range(cfg.epochs):
        loss = F.cross_entropy(model(x), y, label_smoothing=cfg.label_smoothing)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.state_dict()


def trained_weights(trainer: str, cfgs: list[RunConfig],
                    bundle: DataBundle) -> list[dict[str, torch.Tensor]]:
    """Each config's final state dict from train() one at a time, or train_batched() at once."""
    if trainer == "train":
        return [train(c, bundle).model.state_dict() for c in cfgs]
    return [r.model.state_dict() for r in train_batched(cfgs, [bundle] * len(cfgs))]


def max_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return max((a[k] - b[k]).abs().max().item() for k in a)


@pytest.mark.parametrize("on, off", SETTINGS, ids=["nesterov", "label_smoothing"])
@pytest.mark.parametrize("trainer", ["train", "batched"])
def test_the_setting_changes_the_updates_as_torch_does(bundle, trainer, on, off):
    cfgs = [BASE.with_changes(seed=seed, **on) for seed in SEEDS]
    for cfg, got in zip(cfgs, trained_weights(trainer, cfgs, bundle), strict=True):
        want = reference_weights(cfg, bundle)
        assert got.keys() == want.keys()
        for key, value in want.items():
            torch.testing.assert_close(got[key], value, atol=ATOL, rtol=0)
        # without the setting torch ends far from there: a trainer ignoring it fails above
        assert max_difference(want, reference_weights(cfg.with_changes(**off), bundle)) > MOVES
