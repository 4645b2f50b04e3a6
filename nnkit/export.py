"""A stored run's model as an ONNX file: pixels in, class probabilities out (Netron opens it).

The graph takes float32 `pixels` of the dataset's input shape with a dynamic batch dimension,
(batch, 1, 28, 28) for MNIST, each value pixel / 255 in [0, 1] (a toy set: its 2-D points as
they are); the run's input normalization is part of the graph. It returns `probabilities`,
(batch, classes): softmax of the logits, each row sums to 1. The NumPy engine's runs export
too: their checkpoints hold the same weights as the equivalent torch MLP.

Exported with torch.onnx's TorchScript exporter (dynamo=False): measured on the loaded 2-core
machine, 0.03-0.4 s per model (5.5 s for the first in a process) against 2-6.5 s (22 s first)
for the torch.export one (dynamo=True, the default), which exported each preset tried too.
torch 2.14 still has it but warns it will go: then pass dynamo=True with
dynamic_shapes=({0: torch.export.Dim("batch")},) instead.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

from nnkit.runs import RunStore, StoreError

INPUT, OUTPUT = "pixels", "probabilities"


class ExportError(ValueError):
    """A run whose model cannot be exported; the message says why, in words."""


def _graph(model, info, normalize: bool):
    """model between the run's input normalization and a softmax, as one torch module."""
    import torch
    from torch import nn

    class Exported(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model
            self.scale = normalize and info.kind == "image"  # as DataBundle.as_float does
            if self.scale:
                c = info.input_shape[0]
                self.register_buffer("mean", torch.tensor(info.mean).view(1, c, 1, 1))
                self.register_buffer("std", torch.tensor(info.std).view(1, c, 1, 1))

        def forward(self, pixels: torch.Tensor) -> torch.Tensor:
            x = (pixels - self.mean) / self.std if self.scale else pixels
            return self.model(x).softmax(1)

    return Exported().eval()


def onnx_bytes(store: RunStore, run_id: str) -> bytes:
    """The run's checkpoint as a serialized ONNX model; ExportError says why it cannot be."""
    from nnkit import data

    rec = store.get(run_id)
    if rec is None:
        raise ExportError(f"no run {run_id!r} in {store.path}")
    if not store.checkpoint_path(run_id).exists():
        raise ExportError(f"run {run_id} ({rec.status}) has no checkpoint to export: a run "
                          "saves one when it finishes or is stopped, and this one has none")
    try:
        import onnx
        import torch

        from nnkit.training.runner import load_model
    except ImportError as e:
        raise ExportError(f"ONNX export needs the onnx package ({e}); "
                          "pip install -r requirements.txt") from None
    try:
        model, _, ckpt = load_model(store, run_id)  # torch.load(weights_only=True)
    except StoreError as e:
        raise ExportError(f"run {run_id}'s checkpoint cannot be read: {e}") from None
    try:
        info = data.info(rec.config.dataset)  # a built-in dataset or the user's own
    except data.DataError:  # a user dataset deleted since
        info = None
    shape = tuple(ckpt["input_shape"])
    if info is None or tuple(info.input_shape) != shape:
        raise ExportError(f"run {run_id} was trained on {rec.config.dataset!r} with inputs "
                          f"{shape}, which nnkit does not know: nothing to export it for")
    net = _graph(model, info, rec.config.normalize)
    example = torch.zeros(2, *shape)  # any batch: its dimension is made dynamic
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's deprecation note, not the user's
            torch.onnx.export(net, (example,), buffer, input_names=[INPUT],
                              output_names=[OUTPUT], dynamo=False, verbose=False,
                              dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}})
        proto = onnx.load_from_string(buffer.getvalue())
    except Exception as e:  # any exporter failure is one clear sentence
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        raise ExportError(f"the {rec.model} model of run {run_id} could not be exported to ONNX "
                          f"({type(e).__name__}: {first})") from None
    proto.doc_string = (f"nnkit run {run_id} ({rec.model} on {rec.config.dataset}): {INPUT} "
                        f"(batch, {', '.join(map(str, shape))}) float32, pixel / 255 in [0, 1]; "
                        f"{OUTPUT} (batch, {info.num_classes}) softmax over the classes "
                        f"{', '.join(info.classes)}")
    for key, value in (("nnkit.run_id", run_id), ("nnkit.dataset", rec.config.dataset),
                       ("nnkit.classes", ",".join(info.classes)),
                       ("nnkit.output", "softmax probabilities, not logits")):
        prop = proto.metadata_props.add()
        prop.key, prop.value = key, value
    return proto.SerializeToString()


def to_onnx(store: RunStore, run_id: str, path: Path | str | None = None) -> Path:
    """Write the run's model to path (a file, or a folder for <id>.onnx; default ./<id>.onnx)."""
    payload = onnx_bytes(store, run_id)
    path = Path(path) if path is not None else Path(f"{run_id}.onnx")
    if path.is_dir():
        path = path / f"{run_id}.onnx"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(payload)
    except OSError as e:
        from nnkit import diskerrors

        raise ExportError(diskerrors.describe(e, path.parent)
                          or f"{path}: cannot be written ({e.strerror or e})") from None
    return path
