"""Sweeps and the torch.func batched trainer, on tiny seeded data, against trusted references:
hand-worked statistics, torch.optim's own updates, and train() run one seed at a time."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from nnkit import models
from nnkit.config import ConfigError, RunConfig
from nnkit.models import ConvBlock, ModelSpec
from nnkit.runs import RunStore
from nnkit.training import batched, sweep
from nnkit.training.control import RunControl
from nnkit.training.loop import train
from nnkit.training.runner import load_bundle_for, load_model

TINY = RunConfig(dataset="mnist", model="mlp-64-64", epochs=3, batch_size=32, device="cpu")
ATOL = 1e-5  # float32 sums in another order (vmap) after a few dozen steps


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --- statistics and values -------------------------------------------------------------
def test_aggregate_on_hand_worked_values():
    rows = [(1e-4, 0.90), (1e-3, 0.80), (1e-4, 0.94), (1e-3, None), (1e-4, 0.92), (1e-5, 0.5)]
    agg = sweep.aggregate(rows)
    assert [a["value"] for a in agg] == [1e-5, 1e-4, 1e-3]  # sorted by value
    assert [a["n"] for a in agg] == [1, 3, 1]  # None skipped
    # 0.90, 0.94, 0.92: mean 0.92, deviations -0.02, 0.02, 0 -> ddof=1 variance 0.0008 / 2
    assert agg[1]["mean"] == pytest.approx(0.92, abs=1e-12)
    assert agg[1]["std"] == pytest.approx(0.02, abs=1e-12)
    assert agg[0]["std"] == 0.0 and agg[2]["std"] == 0.0  # n = 1
    assert agg[1]["values"] == [0.90, 0.94, 0.92]
    assert sweep.best_value(agg) == 1e-4
    assert sweep.best_value([]) is None


def test_values_from_range():
    assert sweep.values_from_range("log", 1e-6, 1e-3, 4) == (1e-6, 1e-5, 1e-4, 1e-3)
    assert sweep.values_from_range("log", 1e-6, 1e-3, 5) == (1e-6, 5.62e-6, 3.16e-5, 1.78e-4, 1e-3)
    assert sweep.values_from_range("linear", 0, 0.5, 3) == (0.0, 0.25, 0.5)
    assert sweep.values_from_range("list", text="1e-4, 1e-3,1e-4") == (1e-4, 1e-3)
    assert sweep.values_from_range("log", 16, 512, 6, integer=True) == (16, 32, 64, 128, 256, 512)
    assert sweep.values_from_range("linear", 1, 2, 5, integer=True) == (1, 2)  # merged repeats
    with pytest.raises(ConfigError, match="numbers separated by commas"):
        sweep.values_from_range("list", text="1e-4, lots")
    with pytest.raises(ConfigError, match="log range needs start and stop above 0"):
        sweep.values_from_range("log", 0, 1, 3)
    with pytest.raises(ConfigError, match="list, log or linear"):
        sweep.values_from_range("cubic", 0, 1, 3)


def test_members_seeds_and_values():
    spec = sweep.SweepSpec(TINY.with_changes(seed=7), "weight_decay", [1e-5, 1e-3], 3)
    mem = sweep.members(spec)
    assert [(v, r) for v, r, _ in mem] == [(1e-5, 0), (1e-5, 1), (1e-5, 2),
                                          (1e-3, 0), (1e-3, 1), (1e-3, 2)]
    assert [c.seed for _, _, c in mem] == [7, 8, 9, 7, 8, 9]
    assert [c.weight_decay for _, _, c in mem] == [1e-5] * 3 + [1e-3] * 3
    hidden = sweep.members(sweep.SweepSpec(TINY.with_changes(model="mlp-500-300"), "hidden",
                                           (250,), 1))
    assert hidden[0][2].model_spec().hidden == (250, 150)  # proportions kept
    with pytest.raises(ConfigError, match="whole number"):
        sweep.members(sweep.SweepSpec(TINY, "batch_size", (32.5,), 1))
    with pytest.raises(ConfigError, match="no hidden dense layer"):
        sweep.members(sweep.SweepSpec(TINY.with_changes(model="cnn-10-20"), "hidden", (8,), 1))
    with pytest.raises(ConfigError, match="replicates: must be between 1 and 50"):
        sweep.members(sweep.SweepSpec(TINY, "lr", (0.1,), 0))
    with pytest.raises(ConfigError, match="param: must be one of"):
        sweep.members(sweep.SweepSpec(TINY, "momentum", (0.5,), 1))


def test_can_batch_rules():
    def spec(param, values, **changes):
        return sweep.SweepSpec(TINY.with_changes(**changes), param, values, 3)

    assert sweep.can_batch(spec("weight_decay", (1e-5, 1e-4)))
    assert not sweep.can_batch(spec("lr", (1e-3, 1e-2), model="cnn-10-20"))  # slower on a CPU
    assert "half the speed" in sweep.describe_plan(spec("lr", (1e-3,), model="cnn-10-20"))
    assert sweep.can_batch(spec("dropout", (0.2,)))  # replicates of one value
    # other values change shapes or steps: each value's replicates train at once
    for param, values in (("batch_size", (32, 64)), ("epochs", (1, 2)), ("hidden", (32, 64)),
                          ("dropout", (0.0, 0.5)), ("train_subset", (100, 200))):
        s = spec(param, values)
        assert not sweep.can_batch(s)
        assert sweep.plan(s) == [[0, 1, 2], [3, 4, 5]]
    bn = spec("weight_decay", (1e-5, 1e-4), model="fast-cnn")  # batch norm
    assert not sweep.can_batch(bn) and sweep.plan(bn) == [[i] for i in range(6)]
    assert "batch norm" in sweep.describe_plan(bn)
    numpy_mlp = spec("lr", (0.1,), model="numpy-mlp-100", optimizer="sgd", schedule="none")
    assert not sweep.can_batch(numpy_mlp)
    assert sweep.estimate_seconds(bn) > sweep.estimate_seconds(spec("weight_decay", (1e-5, 1e-4)))


# --- the batched trainer against train() ------------------------------------------------
SMALL_CNN = ModelSpec("cnn", (), conv=(ConvBlock(4, 3),))  # 8x8 -> 6x6 -> pooled 3x3


@pytest.mark.parametrize("optimizer, schedule, extra", [
    ("adamw", "onecycle", {}), ("adam", "step", {}), ("sgd", "cosine", {}),
    ("sgd", "none", {"nesterov": True}), ("rmsprop", "none", {}),
    ("adamw", "cosine", {"model": "custom", "spec": SMALL_CNN})])
def test_batched_training_equals_train_seed_by_seed(tiny_bundle, optimizer, schedule, extra):
    """Each member: same init, batch order, rate and decay as train() for its seed."""
    bundle = tiny_bundle(n_train=200)  # 200 / 32: a last partial batch of 8
    scale = 0.1 if optimizer == "rmsprop" else 1.0
    cfgs = [TINY.with_changes(optimizer=optimizer, schedule=schedule, lr=lr * scale,
                              weight_decay=wd, seed=seed, **extra)
            for lr, wd, seed in ((1e-2, 1e-4, 0), (3e-3, 1e-2, 1), (1e-3, 0.0, 2))]
    together = batched.train_batched(cfgs, [bundle] * 3)
    for cfg, mine in zip(cfgs, together, strict=True):
        ref = train(cfg, bundle)
        assert mine.end.status == "finished" and len(mine.history) == 3
        for a, b in zip(mine.history, ref.history, strict=True):
            assert a.train_loss == pytest.approx(b.train_loss, abs=ATOL)
            assert a.test_loss == pytest.approx(b.test_loss, abs=ATOL)
            assert a.train_accuracy == pytest.approx(b.train_accuracy, abs=1e-9)
        for key, value in ref.model.state_dict().items():
            torch.testing.assert_close(mine.model.state_dict()[key], value, atol=1e-4, rtol=0)
        assert mine.evaluation.accuracy == pytest.approx(ref.evaluation.accuracy, abs=1e-9)
        assert (mine.evaluation.confusion == ref.evaluation.confusion).all()


DROPOUT, WIDE = 0.5, 128  # 4 members x 128 hidden units: 512 draws of a dropout mask


@pytest.mark.parametrize("trainer", ["train", "batched"])
def test_dropout_drops_units_at_its_rate_in_training_only(tiny_bundle, trainer):
    """One SGD step on one image shows each member's dropout mask in its output layer: unit j's
    column moves by (the output bias's move) * h_j / (1 - p) where j was kept, not at all where
    it was dropped. train() (torch's nn.Dropout) is the reference the batched trainer must meet."""
    one = tiny_bundle(n_train=1, n_test=16)
    spec = ModelSpec("mlp", (WIDE,), activation="tanh", dropout=DROPOUT)  # tanh is never 0
    cfgs = [TINY.with_changes(model="custom", spec=spec, optimizer="sgd", momentum=0.0, lr=0.1,
                              weight_decay=0.0, schedule="none", batch_size=1, epochs=1, seed=s)
            for s in range(4)]
    results = ([train(c, one) for c in cfgs] if trainer == "train"
               else batched.train_batched(cfgs, [one] * len(cfgs)))
    x, test_x = one.as_float(one.train_x), one.as_float(one.test_x)  # (1, 1, 8, 8), (16, 1, 8, 8)
    masks = []
    for cfg, result in zip(cfgs, results, strict=True):
        torch.manual_seed(cfg.seed)  # the member's init, as train() builds it
        init = models.build_model(spec, one.info.input_shape, one.info.num_classes)
        model = result.model.eval()
        with torch.no_grad():
            h = torch.tanh(init.fc1(x.flatten(1)))[0]  # (WIDE,) the hidden layer before dropout
            w = model.out.weight - init.out.weight  # (classes, WIDE)
            b = model.out.bias - init.out.bias  # (classes,)
            probs = model(test_x).softmax(1)  # (16, classes), dropout off
        kept = w.abs().sum(0) > 0  # (WIDE,)
        torch.testing.assert_close(w[:, kept], b[:, None] * h[kept] / (1 - DROPOUT), atol=1e-6,
                                   rtol=0)
        np.testing.assert_allclose(result.evaluation.probs, probs.numpy(), atol=1e-6)
        masks.append(kept)
    dropped = 1 - torch.stack(masks).float().mean().item()  # (4, WIDE) -> share dropped
    assert dropped == pytest.approx(DROPOUT, abs=0.1)  # 0.02 is one standard deviation
    assert len({tuple(m.tolist()) for m in masks}) == len(cfgs)  # each member draws its own


def test_batched_refuses_members_that_differ_in_shape(tiny_bundle):
    b = tiny_bundle()
    with pytest.raises(ValueError, match="may differ only in lr, weight_decay, seed"):
        batched.train_batched([TINY, TINY.with_changes(batch_size=64)], [b, b])
    with pytest.raises(ValueError, match="batch norm"):
        batched.train_batched([TINY.with_changes(model="fast-cnn")] * 2, [b, b])


def test_a_diverging_member_leaves_the_others_alone(tiny_bundle):
    bundle = tiny_bundle()
    cfgs = [TINY.with_changes(optimizer="sgd", schedule="none", lr=lr) for lr in (0.05, 10.0)]
    ok, bad = batched.train_batched(cfgs, [bundle] * 2)
    ref, ref_bad = train(cfgs[0], bundle), train(cfgs[1], bundle)
    assert bad.end.status == ref_bad.end.status == "diverged"
    assert bad.end.message == ref_bad.end.message  # same epoch, same step
    assert "learning rate 10" in bad.end.message and bad.evaluation is None
    assert ok.end.status == "finished"
    assert ok.history[-1].train_loss == pytest.approx(ref.history[-1].train_loss, abs=ATOL)


# --- end to end through the store ------------------------------------------------------
def test_a_two_by_two_sweep_stores_every_member(nnkit_home):
    store = RunStore()
    base = RunConfig(dataset="moons", model="mlp-64-64", epochs=2, device="cpu")
    spec = sweep.SweepSpec(base, "weight_decay", (1e-4, 1e-2), 2, name="wd test")
    ended = []
    result = sweep.run_sweep(spec, store, on_member_end=ended.append)
    assert result.batched and len(result.members) == 4 and len(ended) == 4
    runs = {r.id: r for r in store.list()}
    assert set(runs) == {m.run_id for m in result.members}
    for m in result.members:
        rec = runs[m.run_id]
        assert rec.group_name == "wd test" and rec.status == "finished"
        assert rec.config.weight_decay == m.value and rec.config.seed == m.replicate
        assert rec.final_test_accuracy == pytest.approx(m.test_accuracy, abs=1e-12)
        assert [e["epoch"] for e in store.epochs(m.run_id)] == [1, 2]
        assert store.steps(m.run_id)  # per-step losses
        model, _, ckpt = load_model(store, m.run_id)
        assert ckpt["epoch"] == 2 and model(torch.zeros(1, 2)).shape == (1, 2)
        ev = store.load_arrays(m.run_id, "evaluation")
        assert float(ev["accuracy"]) == pytest.approx(m.test_accuracy, abs=1e-12)
    agg = result.aggregate()
    assert [a["value"] for a in agg] == [1e-4, 1e-2] and [a["n"] for a in agg] == [2, 2]
    # the toy set depends on the seed: replicate r equals a plain run of seed r
    first = next(m for m in result.members if m.value == 1e-4 and m.replicate == 1)
    plain_cfg = base.with_changes(weight_decay=1e-4, seed=1)
    plain = train(plain_cfg, load_bundle_for(plain_cfg))
    assert first.test_accuracy == pytest.approx(plain.end.test_accuracy, abs=1e-9)


def test_a_stop_keeps_the_finished_members(nnkit_home):
    """batch_size values train one group after another: stop after the first group."""
    store = RunStore()
    base = RunConfig(dataset="moons", model="mlp-64-64", epochs=2, device="cpu")
    spec = sweep.SweepSpec(base, "batch_size", (64, 128), 2, name="stop test")
    control = RunControl()
    result = sweep.run_sweep(spec, store, control=control,
                             on_member_end=lambda m: control.stop() if m.index == 1 else None)
    statuses = [m.status for m in result.members]
    assert statuses == ["finished", "finished", "stopped", "stopped"]
    recs = {r.id: r for r in store.list()}
    assert [recs[m.run_id].status for m in result.members] == statuses
    assert recs[result.members[3].run_id].message == "stopped before it started"
    assert [a["value"] for a in result.aggregate()] == [64]


def test_a_group_whose_data_fails_is_recorded_and_the_others_go_on(nnkit_home, monkeypatch):
    real = sweep.load_bundle_for

    def flaky(cfg):
        if cfg.batch_size == 128:
            raise sweep.data.DataError("the files are gone")
        return real(cfg)

    monkeypatch.setattr(sweep, "load_bundle_for", flaky)
    store = RunStore()
    base = RunConfig(dataset="moons", model="mlp-64-64", epochs=1, device="cpu")
    result = sweep.run_sweep(sweep.SweepSpec(base, "batch_size", (64, 128), 2), store)
    assert [m.status for m in result.members] == ["finished", "finished", "failed", "failed"]
    recs = {r.id: r for r in store.list()}
    assert recs[result.members[2].run_id].status == "failed"
    assert recs[result.members[2].run_id].message == "DataError: the files are gone"


def test_a_sweeps_duration_holds_its_members_training(nnkit_home):
    base = RunConfig(dataset="moons", model="mlp-64-64", epochs=1, device="cpu")
    t0 = time.perf_counter()
    result = sweep.run_sweep(sweep.SweepSpec(base, "lr", (0.01, 0.02), 1), RunStore())
    waited = time.perf_counter() - t0
    assert [m.status for m in result.members] == ["finished", "finished"]
    # the sweep's wall-clock time holds its members' training and fits in the time waited
    trained = max(m.train_seconds for m in result.members)
    assert 0 < trained <= result.seconds <= waited


def test_differing_fields():
    a = TINY
    b = TINY.with_changes(lr=0.1, model="custom", spec=ModelSpec("mlp", (32,)))
    diff = sweep.differing_fields([a, b, a])
    assert set(diff) == {"lr", "model", "spec.hidden"}
    assert diff["lr"] == [a.lr, 0.1, a.lr]
    assert sweep.differing_fields([a, a]) == {}
