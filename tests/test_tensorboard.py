"""TensorBoard event files of stored runs, read back with TensorBoard's own EventAccumulator and
compared with the run store's numbers (tiny synthetic data and the moons toy set)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing import event_accumulator as ea

from nnkit.config import RunConfig
from nnkit.data import DataBundle
from nnkit.training import sweep
from nnkit.training.runner import run_and_store
from nnkit.training.tensorboard_log import step_stride, weights_image

ATOL = 1e-5  # events hold float32; the store float64
N_TRAIN, N_VAL, BATCH = 400, 100, 2  # 200 steps an epoch: every 2nd step loss is written
ALL = {ea.SCALARS: 0, ea.IMAGES: 0, ea.TENSORS: 0}  # 0 = keep every event


def events(folder) -> ea.EventAccumulator:
    """Everything TensorBoard reads from a run's folder."""
    acc = ea.EventAccumulator(str(folder), size_guidance=ALL)
    acc.Reload()
    return acc


def scalars(acc: ea.EventAccumulator, tag: str) -> tuple[list[int], np.ndarray]:
    rows = acc.Scalars(tag)
    return [r.step for r in rows], np.array([r.value for r in rows])


def with_validation(bundle: DataBundle) -> DataBundle:
    """The tiny bundle with its last N_VAL training images held out for validation."""
    x, y = bundle.train_x, bundle.train_y
    return DataBundle(bundle.info, x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:],
                      bundle.test_x, bundle.test_y, bundle.normalize)


def test_step_stride_writes_at_most_a_hundred_losses_an_epoch():
    assert [step_stride(n) for n in (1, 99, 199, 200, 469, 938)] == [1, 1, 1, 2, 4, 9]


def test_a_run_writes_steps_epochs_and_weights_that_match_the_store(store, tiny_bundle,
                                                                   one_torch_thread):
    bundle = with_validation(tiny_bundle(n_train=N_TRAIN + N_VAL, shape=(1, 8, 8)))
    cfg = RunConfig(model="mlp-64-64", epochs=2, batch_size=BATCH, lr=0.05, optimizer="sgd",
                    schedule="cosine", device="cpu")
    run_id, result = run_and_store(cfg, store, bundle=bundle)
    assert result.end.status == "finished"
    acc = events(store.run_dir(run_id))

    steps = store.steps(run_id)
    assert len(steps) == 2 * N_TRAIN // BATCH
    written = steps[::2]  # steps 1, 3, 5, ...
    got_steps, loss = scalars(acc, "step/loss")
    assert got_steps == [s["step"] for s in written]
    np.testing.assert_allclose(loss, [s["loss"] for s in written], rtol=1e-6, atol=ATOL)
    got_steps, lr = scalars(acc, "step/learning_rate")
    assert got_steps == [s["step"] for s in written]
    np.testing.assert_allclose(lr, [s["lr"] for s in written], rtol=1e-6, atol=1e-9)
    assert lr[0] > lr[-1]  # the cosine schedule, not a constant

    epochs = store.epochs(run_id)
    for tag, field in (("loss/train", "train_loss"), ("accuracy/train", "train_accuracy"),
                       ("loss/validation", "val_loss"), ("accuracy/validation", "val_accuracy"),
                       ("loss/test", "test_loss"), ("accuracy/test", "test_accuracy"),
                       ("speed/images_per_second", "images_per_second")):
        got_epochs, values = scalars(acc, tag)
        assert got_epochs == [1, 2], tag
        np.testing.assert_allclose(values, [e[field] for e in epochs], rtol=1e-6, atol=ATOL,
                                   err_msg=tag)
    assert np.isclose(scalars(acc, "accuracy/test")[1][-1], store.get(run_id).final_test_accuracy,
                      atol=ATOL)

    images = acc.Images("first_layer/weights")
    assert [i.step for i in images] == [1, 2]
    first = store.load_checkpoint(run_id)["state_dict"]["fc1.weight"].numpy()  # (64, 64)
    expected = weights_image(first, (1, 8, 8))  # the final weights = epoch 2's
    png = np.asarray(Image.open(io.BytesIO(images[-1].encoded_image_string)).convert("L"))
    assert png.shape == expected.shape == (images[-1].height, images[-1].width)
    np.testing.assert_allclose(png, expected * 255, atol=1.0)  # 8-bit, truncated
    assert "finished" in acc.Tensors("run/end/text_summary")[0].tensor_proto.string_val[0].decode()


def test_weights_image_puts_zero_at_grey_and_scales_small_grids_up():
    w = torch.zeros(4, 1, 5, 5)
    w[0, 0, 0, 0], w[1, 0, 0, 0] = 2.0, -2.0
    image = weights_image(w.numpy(), (1, 28, 28))  # 2x2 tiles of 5x5, 1 px gaps: 11x11
    scale = 256 // 11
    assert image.shape == (11 * scale, 11 * scale)
    assert image[0, 0] == 1.0 and image[0, 6 * scale] == 0.0  # +max white, -max black
    assert image[scale, scale] == 0.5 and image[5 * scale, 0] == 1.0  # zero grey; the gap white
    rgb = weights_image(np.zeros((3, 3 * 32 * 32), np.float32), (3, 32, 32))
    assert rgb.ndim == 3 and rgb.shape[2] == 3


def test_a_batched_sweep_writes_one_event_folder_per_member(store, one_torch_thread):
    base = RunConfig(dataset="moons", model="mlp-64-64", epochs=2, device="cpu", toy_size=200)
    spec = sweep.SweepSpec(base, "lr", [0.01, 0.1], replicates=1)
    result = sweep.run_sweep(spec, store)
    assert result.batched and len(result.members) == 2
    finals = []
    for member in result.members:
        acc = events(store.run_dir(member.run_id))
        steps = store.steps(member.run_id)
        got_steps, loss = scalars(acc, "step/loss")
        assert got_steps == [s["step"] for s in steps]  # 4 steps an epoch: all written
        np.testing.assert_allclose(loss, [s["loss"] for s in steps], rtol=1e-6, atol=ATOL)
        _, test = scalars(acc, "accuracy/test")
        np.testing.assert_allclose(test, [e["test_accuracy"] for e in store.epochs(member.run_id)],
                                   atol=ATOL)
        assert not acc.Tags()["images"]  # 2-D points: no first-layer picture
        finals.append(loss[-1])
    assert finals[0] != pytest.approx(finals[1])  # two members, two different runs
