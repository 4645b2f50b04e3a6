"""Stored runs exported to ONNX through nnkit.export, run by onnxruntime and compared with the
PyTorch model the store loads (tiny synthetic 28x28 images labelled as MNIST)."""

from __future__ import annotations

import dataclasses

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from nnkit import data
from nnkit.config import RunConfig
from nnkit.export import INPUT, OUTPUT, ExportError, onnx_bytes, to_onnx
from nnkit.training.runner import load_model, run_and_store

N_TEST = 100
ATOL = 1e-4


@pytest.fixture
def mnist_like(tiny_bundle):
    """64 training and 100 test synthetic 28x28 images, 10 classes, with MNIST's info (so its
    normalization) as a real MNIST run would have."""
    bundle = tiny_bundle(n_train=64, n_test=N_TEST, classes=10, shape=(1, 28, 28))
    return dataclasses.replace(bundle, info=data.DATASETS["mnist"])


def session(payload: bytes) -> ort.InferenceSession:
    return ort.InferenceSession(payload, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("model", ["mlp-64-64", "fast-cnn", "numpy-mlp-100"])
def test_onnxruntime_gives_the_class_probabilities_of_pytorch(model, store, mnist_like,
                                                             one_torch_thread):
    cfg = RunConfig(model=model, epochs=1, batch_size=32, device="cpu")  # two steps
    if model.startswith("numpy"):  # its checkpoint is the equivalent torch MLP's state dict
        cfg = cfg.with_changes(optimizer="sgd", schedule="none", lr=0.1)
    run_id, result = run_and_store(cfg, store, bundle=mnist_like)
    assert result.end.status == "finished"

    payload = onnx_bytes(store, run_id)
    proto = onnx.load_from_string(payload)
    onnx.checker.check_model(proto)
    [inp], [out] = proto.graph.input, proto.graph.output
    assert (inp.name, out.name) == (INPUT, OUTPUT)
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert dims == ["batch", 1, 28, 28]  # the batch is dynamic
    assert {p.key: p.value for p in proto.metadata_props}["nnkit.run_id"] == run_id

    net, _, _ = load_model(store, run_id)  # what the Inspect and Draw pages use
    with torch.inference_mode():
        expected = net(mnist_like.as_float(mnist_like.test_x)).softmax(1).numpy()  # (100, 10)
    pixels = mnist_like.test_x.float().numpy() / 255.0  # the graph normalizes by itself
    sess = session(payload)
    [probs] = sess.run(None, {INPUT: pixels})
    assert probs.shape == (N_TEST, 10)
    np.testing.assert_allclose(probs, expected, atol=ATOL)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)  # probabilities, not logits
    stored = store.load_arrays(run_id, "evaluation")["preds"]  # the run's own test predictions
    assert (probs.argmax(1) == stored).all()
    [one] = sess.run(None, {INPUT: pixels[:1]})  # another batch size through the same file
    np.testing.assert_allclose(one, expected[:1], atol=ATOL)


def test_a_toy_run_exports_its_points_as_they_are(store, one_torch_thread):
    cfg = RunConfig(dataset="moons", model="mlp-64-64", epochs=1, device="cpu", toy_size=100)
    run_id, _ = run_and_store(cfg, store)
    path = to_onnx(store, run_id, store.runs_dir)  # a folder: <id>.onnx in it
    assert path == store.runs_dir / f"{run_id}.onnx"
    points = np.array([[0.0, 0.5], [1.0, -0.3], [2.0, 0.4]], np.float32)
    [probs] = session(path.read_bytes()).run(None, {INPUT: points})
    net, _, _ = load_model(store, run_id)
    with torch.inference_mode():
        expected = net(torch.from_numpy(points)).softmax(1).numpy()
    np.testing.assert_allclose(probs, expected, atol=ATOL)


def test_runs_that_cannot_export_say_why(store):
    with pytest.raises(ExportError, match="no run 'nope'"):
        onnx_bytes(store, "nope")
    queued = store.create_run(RunConfig(), name="waiting")
    with pytest.raises(ValueError, match=rf"run {queued} \(queued\) has no checkpoint to export"):
        onnx_bytes(store, queued)
    damaged = store.create_run(RunConfig(), name="damaged", status="finished")
    store.run_dir(damaged).mkdir(parents=True)
    store.checkpoint_path(damaged).write_bytes(b"not a checkpoint")
    with pytest.raises(ExportError, match="checkpoint cannot be read: .*refused"):
        onnx_bytes(store, damaged)
