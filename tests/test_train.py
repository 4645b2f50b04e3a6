"""The training loop on tiny synthetic patterns: learning, determinism, events, pause/stop,
divergence, evaluation, schedules and optimizers."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch
from helpers import tiny_bundle

from nnkit import metrics
from nnkit.config import RunConfig
from nnkit.models import ConvBlock, ModelSpec
from nnkit.training.control import RunControl
from nnkit.training.events import Callback, EpochEnd, RunEnd, RunStart, StepEnd
from nnkit.training.loop import evaluate, finished_message, train
from nnkit.training.results import Evaluation, TrainingFailed

N_TRAIN, N_TEST, CLASSES = 256, 128, 3
BATCH = 32
STEPS_PER_EPOCH = N_TRAIN // BATCH  # 8
CHANCE = 1 / CLASSES
ATOL = 1e-6

MLP = ModelSpec("mlp", (32,))
CNN = ModelSpec("cnn", (16,), conv=(ConvBlock(8, 3, padding=1, batch_norm=True),
                                    ConvBlock(8, 3, padding=1)))  # 8x8 -> 4x4 -> 2x2
# dataset="mnist" is what validation checks the spec against; the bundle is what is trained on
BASE = RunConfig(dataset="mnist", model="custom", spec=MLP, optimizer="adam", lr=1e-2,
                 weight_decay=0.0, batch_size=BATCH, epochs=3, schedule="none", device="cpu")


class Recorder(Callback):
    """Keeps every event, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def on_run_start(self, event: RunStart) -> None:
        self.events.append(("run_start", event))

    def on_step_end(self, event: StepEnd) -> None:
        self.events.append(("step", event))

    def on_epoch_end(self, event: EpochEnd) -> None:
        self.events.append(("epoch_end", event))

    def on_weights(self, step: int, first_layer: np.ndarray) -> None:
        self.events.append(("weights", step))

    def on_checkpoint(self, epoch: int, state: dict) -> None:
        self.events.append(("checkpoint", epoch))

    def on_run_end(self, event: RunEnd) -> None:
        self.events.append(("run_end", event))

    def names(self) -> list[str]:
        return [n for n, _ in self.events if n != "weights"]  # weights come every 2 s of wall time

    def of(self, name: str) -> list:
        return [e for n, e in self.events if n == name]


@pytest.fixture(scope="module")
def bundle():
    return tiny_bundle(N_TRAIN, N_TEST, CLASSES)


@pytest.mark.parametrize("spec", [MLP, CNN], ids=["mlp", "cnn"])
def test_learns_tiny_patterns(bundle, spec):
    result = train(BASE.with_changes(spec=spec), bundle)
    assert result.end.status == "finished"
    assert result.end.test_accuracy >= 0.9
    assert result.history[-1].train_loss < result.history[0].train_loss
    # the accuracy reported is the returned model's, recounted from its own predictions
    with torch.no_grad():
        preds = result.model.eval()(bundle.as_float(bundle.test_x)).argmax(1)  # (N_TEST,)
    correct = int((preds == bundle.test_y).sum())
    assert result.end.test_accuracy == correct / N_TEST == result.evaluation.accuracy
    assert np.trace(result.evaluation.confusion) == correct
    assert result.device.startswith("cpu")
    assert next(result.model.parameters()).device.type == "cpu"


def test_same_seed_same_losses_other_seed_differs(bundle):
    runs = []
    for seed in (0, 0, 1):
        rec = Recorder()
        result = train(BASE.with_changes(seed=seed), bundle, [rec])
        runs.append(([e.train_loss for e in result.history], [s.loss for s in rec.of("step")]))
    assert runs[0] == runs[1]  # exact equality on the CPU
    assert runs[0][1] != runs[2][1]
    assert runs[0][0] != runs[2][0]


def test_event_order_and_counts(bundle):
    rec = Recorder()
    result = train(BASE, bundle, [rec], run_id="r1")
    per_epoch = ["step"] * STEPS_PER_EPOCH + ["checkpoint", "epoch_end"]
    assert rec.names() == ["run_start", *per_epoch * BASE.epochs, "run_end"]
    start = rec.of("run_start")[0]
    assert (start.run_id, start.epochs, start.steps_per_epoch, start.train_size) == (
        "r1", BASE.epochs, STEPS_PER_EPOCH, N_TRAIN)
    steps = rec.of("step")
    assert [s.step for s in steps] == list(range(1, BASE.epochs * STEPS_PER_EPOCH + 1))
    assert [s.epoch for s in steps] == [e for e in range(1, 4) for _ in range(STEPS_PER_EPOCH)]
    assert rec.of("checkpoint") == [1, 2, 3]
    assert [e.epoch for e in rec.of("epoch_end")] == [1, 2, 3] == [e.epoch for e in result.history]
    end = rec.of("run_end")[0]
    assert end.status == "finished" and end.message == "finished 3 epochs"
    assert end.metrics["steps"] == 24 and end.metrics["epochs_done"] == 3
    for e in result.history:
        assert 0.0 <= e.train_accuracy <= 1.0 and e.test_accuracy is not None
        assert e.val_loss is None and e.val_accuracy is None  # the bundle has no validation set


@pytest.mark.parametrize("n_train, steps", [(256, 8), (257, 8), (258, 9), (20, 1)])
def test_steps_per_epoch_drops_a_last_batch_of_one(n_train, steps):
    rec = Recorder()
    train(BASE.with_changes(epochs=1), tiny_bundle(n_train, 16, CLASSES), [rec])
    assert rec.of("run_start")[0].steps_per_epoch == steps
    assert len(rec.of("step")) == steps


def test_checkpoint_state_is_a_cpu_copy(bundle):
    states = []

    class Keep(Callback):
        def on_checkpoint(self, epoch: int, state: dict) -> None:
            states.append(state)

    result = train(BASE.with_changes(epochs=2), bundle, [Keep()])
    assert len(states) == 2
    assert not torch.equal(states[0]["fc1.weight"], states[1]["fc1.weight"])  # not aliased
    assert torch.equal(states[1]["fc1.weight"], result.model.state_dict()["fc1.weight"])


def test_pause_from_another_thread_holds_the_loop(bundle):
    control = RunControl()
    reached, go = threading.Event(), threading.Event()
    steps: list[int] = []

    class PauseAtThree(Callback):
        def on_step_end(self, event: StepEnd) -> None:
            steps.append(event.step)
            if event.step == 3:
                reached.set()
                assert go.wait(30)  # hold here until the other thread has paused the run

    results = []
    worker = threading.Thread(target=lambda: results.append(
        train(BASE, bundle, [PauseAtThree()], control)))
    worker.start()
    assert reached.wait(30)
    control.pause()
    assert control.paused
    go.set()
    time.sleep(0.3)  # the loop is parked before step 4
    assert steps == [1, 2, 3] and worker.is_alive()
    control.resume()
    worker.join(60)
    assert not worker.is_alive()
    assert results[0].end.status == "finished"
    assert steps == list(range(1, BASE.epochs * STEPS_PER_EPOCH + 1))


@pytest.mark.parametrize("stop_after", [3, 10])
def test_stop_from_a_callback_takes_effect_within_one_step(bundle, stop_after):
    control = RunControl()

    class StopAt(Callback):
        def on_step_end(self, event: StepEnd) -> None:
            if event.step == stop_after:
                control.stop()

    rec = Recorder()
    result = train(BASE, bundle, [StopAt(), rec], control)
    assert result.end.status == "stopped"
    assert result.end.message == f"stopped by the user after {stop_after} steps"
    assert result.end.metrics["steps"] == stop_after == len(rec.of("step"))
    assert len(result.history) == stop_after // STEPS_PER_EPOCH  # whole epochs done
    assert result.evaluation is not None and result.end.test_accuracy is not None
    assert result.evaluation.confusion.sum() == N_TEST
    assert rec.names()[-1] == "run_end" and rec.of("run_end")[0].status == "stopped"


def test_divergence_is_reported_with_the_learning_rate(bundle):
    # plain SGD at the largest allowed rate with momentum through four ReLU layers blows up
    # within the first epoch on every seed tried (0..9)
    cfg = BASE.with_changes(optimizer="sgd", lr=10.0, momentum=0.9,
                            spec=ModelSpec("mlp", (64, 64, 64, 64)))
    rec = Recorder()
    result = train(cfg, bundle, [rec])
    assert result.end.status == "diverged"
    assert "the learning rate 10 is likely too high for sgd; try 0.1 or lower" in result.end.message
    assert result.end.message.startswith("the loss became ")
    assert result.evaluation is None and result.end.test_accuracy is None
    assert rec.names()[-1] == "run_end"
    assert result.end.metrics["steps"] < STEPS_PER_EPOCH * cfg.epochs


def test_unexpected_error_fails_the_run_and_tells_callbacks(bundle):
    broken = tiny_bundle(64, 16, CLASSES)
    broken.train_y[5] = 7  # a label outside the 3 classes
    rec = Recorder()
    with pytest.raises(TrainingFailed, match="IndexError: Target 7 is out of bounds"):
        train(BASE, broken, [rec])
    end = rec.of("run_end")[0]
    assert end.status == "failed" and "Target 7" in end.message


def test_evaluate_full_matches_reference_confusion(bundle):
    result = train(BASE.with_changes(epochs=1, lr=1e-3), bundle)  # not yet perfect
    ev = evaluate(result.model, bundle.test_x, bundle.test_y, bundle, full=True)
    want = metrics.confusion_matrix(torch.from_numpy(ev.preds), bundle.test_y, CLASSES)
    np.testing.assert_array_equal(ev.confusion, want.numpy())
    assert ev.confusion.sum() == N_TEST
    assert ev.accuracy == pytest.approx(np.trace(ev.confusion) / N_TEST, abs=ATOL)
    assert ev.probs.shape == (N_TEST, CLASSES) and ev.probs.dtype == np.float32
    np.testing.assert_allclose(ev.probs.sum(1), np.ones(N_TEST), atol=ATOL)
    np.testing.assert_array_equal(ev.preds, ev.probs.argmax(1))
    loss, acc = evaluate(result.model, bundle.test_x, bundle.test_y, bundle)
    assert acc == ev.accuracy and loss == pytest.approx(ev.loss, abs=ATOL)
    # the loss is the mean cross entropy, as torch computes it on the whole set at once
    with torch.no_grad():
        logits = result.model.eval()(bundle.as_float(bundle.test_x))
    ref = torch.nn.functional.cross_entropy(logits, bundle.test_y).item()
    assert ev.loss == pytest.approx(ref, abs=1e-5)


def test_evaluate_in_batches_equals_whole(bundle, monkeypatch):
    import nnkit.training.loop as train_module

    model = train(BASE.with_changes(epochs=1, lr=1e-3), bundle).model
    whole = evaluate(model, bundle.test_x, bundle.test_y, bundle, full=True)
    monkeypatch.setattr(train_module, "EVAL_BATCH", 7)  # 128 = 18 * 7 + 2
    batched = evaluate(model, bundle.test_x, bundle.test_y, bundle, full=True)
    np.testing.assert_array_equal(batched.confusion, whole.confusion)
    assert batched.accuracy == whole.accuracy
    assert batched.loss == pytest.approx(whole.loss, abs=ATOL)


def test_schedules_shape_the_learning_rate(bundle):
    lr, n = 1e-2, 2 * STEPS_PER_EPOCH
    lrs = {}
    for schedule in ("none", "step", "cosine", "onecycle"):
        rec = Recorder()
        result = train(BASE.with_changes(schedule=schedule, epochs=2, lr=lr, step_size=1,
                                         gamma=0.5), bundle, [rec])
        assert result.end.status == "finished"
        lrs[schedule] = np.array([s.lr for s in rec.of("step")])  # the rate each step used
        assert len(lrs[schedule]) == n
    assert (lrs["none"] == lr).all()
    # StepLR halves the rate after every epoch's worth of steps
    np.testing.assert_allclose(lrs["step"][:STEPS_PER_EPOCH], lr, atol=1e-12)
    np.testing.assert_allclose(lrs["step"][STEPS_PER_EPOCH:], lr / 2, atol=1e-12)
    # cosine from lr towards 0 over all the run's steps
    k = np.arange(n)
    np.testing.assert_allclose(lrs["cosine"], lr * (1 + np.cos(np.pi * k / n)) / 2, atol=1e-9)
    # one-cycle: from lr/25 up to lr over the first quarter, then down to lr/25/1e4 at the end
    onecycle = lrs["onecycle"]
    peak = n // 4 - 1
    assert onecycle[0] == pytest.approx(lr / 25, abs=1e-12)
    assert onecycle[peak] == pytest.approx(lr, abs=1e-12) and onecycle.argmax() == peak
    assert onecycle[-1] == pytest.approx(lr / 25 / 1e4, abs=1e-12)
    assert (np.diff(onecycle[: peak + 1]) > 0).all() and (np.diff(onecycle[peak:]) < 0).all()


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw", "rmsprop"])
def test_every_optimizer_runs_an_epoch(bundle, optimizer):
    lr = {"sgd": 0.1, "adam": 1e-2, "adamw": 1e-2, "rmsprop": 1e-3}[optimizer]
    cfg = BASE.with_changes(optimizer=optimizer, lr=lr, epochs=1, schedule="onecycle",
                            weight_decay=1e-4, spec=CNN)
    result = train(cfg, bundle)
    assert result.end.status == "finished" and len(result.history) == 1
    assert result.end.test_accuracy > CHANCE


def test_invalid_config_refused_before_training(bundle):
    rec = Recorder()
    with pytest.raises(ValueError, match=r"lr: must be a number in \(0, 10\]"):
        train(BASE.with_changes(lr=0.0), bundle, [rec])
    assert rec.events == []


def test_a_run_at_chance_level_says_it_did_not_learn(one_torch_thread):
    # AdamW at lr 10 through three ReLU layers collapses to one answer: 10-13.5 % on seeds 0..4
    ten = tiny_bundle(512, 200, classes=10)  # 20 test images per class: chance is 10 %
    cfg = BASE.with_changes(optimizer="adamw", lr=10.0, epochs=1, schedule="onecycle",
                            spec=ModelSpec("mlp", (32, 32, 32)))
    end = train(cfg, ten).end
    assert end.status == "finished" and end.test_accuracy <= 0.15
    assert end.message == (f"finished 1 epoch, but it did not learn: {end.test_accuracy * 100:.1f}"
                           " % test accuracy is chance level for 10 classes; try a smaller "
                           "learning rate (0.01 suits adamw)")
    learned = train(cfg.with_changes(lr=1e-2), ten).end
    assert learned.test_accuracy > 0.9 and learned.message == "finished 1 epoch"


@pytest.mark.parametrize("per_class, correct, learned", [
    ([90, 10], [90, 0], False),  # always "0": 90 % is what guessing the commonest label scores
    ([90, 10], [90, 6], True),  # 96 %: above that
    ([10] * 10, [2] * 10, True),  # 20 % of 10 balanced classes: weak, but not chance
    ([10] * 10, [1] * 6 + [2] * 4, False),  # 14 %: within 5 points of chance
])
def test_chance_level_is_the_commonest_label_share(per_class, correct, learned):
    classes, n = len(per_class), sum(per_class)
    confusion = np.diag(correct).astype(np.int64)
    confusion[:, -1] += np.array(per_class) - np.array(correct)  # the misses all say "last"
    ev = Evaluation(0.0, sum(correct) / n, np.zeros(n, np.int64), np.zeros((n, classes)),
                    confusion)
    message = finished_message(BASE.with_changes(optimizer="sgd", lr=0.1, epochs=2), ev)
    assert (message == "finished 2 epochs") == learned
    if not learned:
        assert message == (f"finished 2 epochs, but it did not learn: {ev.accuracy * 100:.1f} % "
                           f"test accuracy is chance level for {classes} classes; try more "
                           "epochs, another learning rate, or normalized inputs")


def test_a_cpu_run_has_its_threads_governed_after_every_step(bundle, monkeypatch):
    from nnkit.training import cpu

    ticks = []

    class Counting(Callback):
        def on_step_end(self, e: StepEnd) -> None:
            ticks.append(e.step)

    monkeypatch.setattr(cpu, "governors",
                        lambda device: [Counting()] if device.type == "cpu" else [])
    result = train(BASE.with_changes(epochs=1, device="cpu"), bundle)
    assert ticks == list(range(1, result.end.metrics["steps"] + 1))


@pytest.mark.parametrize("total", range(1, 10))
def test_the_one_cycle_schedule_takes_runs_of_any_few_steps(total):
    """torch's OneCycleLR divides by zero when its warm-up is exactly one step (4 steps at
    pct_start 0.25): a 200-point toy run of one epoch failed so."""
    from nnkit.training.loop import make_scheduler

    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    sched = make_scheduler(RunConfig(schedule="onecycle", epochs=1, lr=0.1), opt, total)
    lrs = []
    for _ in range(total):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    assert all(lr >= 0 for lr in lrs) and lrs[-1] < 0.1
