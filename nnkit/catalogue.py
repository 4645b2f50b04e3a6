"""The seed assignments' experiments as data: a story, the report's figure, and the runs.

Each Experiment names the RunConfigs that redo it (the Catalogue page queues them, the figures
script trains them); kinds that are not a RunConfig (the palindrome RNN) carry their settings.
Where a run departs from the report because nnkit's ModelSpec cannot say it, a comment says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from nnkit.config import RunConfig
from nnkit.models import ConvBlock, ModelSpec
from nnkit.training.palindrome import DEFAULT_LENGTHS

KINDS = ("train", "sweep", "palindrome", "numpy-vs-torch", "toy")
PLAIN_SGD = {"optimizer": "sgd", "momentum": 0.0, "weight_decay": 0.0, "schedule": "none"}


@dataclass(frozen=True)
class Experiment:
    key: str  # short id, used in run names ("<key> · <label>") and the store's group
    title: str
    story: str  # what it shows, in a few sentences
    reported: str  # the report's figure, e.g. "~97.3 % test"
    reference_accuracy: float | None  # that figure as a fraction (None: not one number)
    runs: tuple[tuple[str, RunConfig], ...]  # (label, config) of every run it trains
    kind: str = "train"  # train | sweep | palindrome | numpy-vs-torch | toy
    run_reported: tuple[tuple[str, str], ...] = ()  # (label, the report's figure for that run)
    settings: tuple[tuple[str, object], ...] = ()  # keyword arguments of a non-RunConfig kind

    def configs(self) -> dict[str, RunConfig]:
        """The runs as {label: config}."""
        return dict(self.runs)

    def reported_for(self, label: str) -> str:
        """The report's figure for one run (the experiment's when the run has none)."""
        return dict(self.run_reported).get(label, self.reported)

    def run_name(self, label: str) -> str:
        """The name a run of this experiment gets in the store."""
        return f"{self.key} · {label}"

    @property
    def group(self) -> str:
        """The store's group_name of this experiment's runs."""
        return f"catalogue:{self.key}"


# LeNet-5 as the report built it in Keras: zero padding 2, conv 6@5x5, avg pool, conv 16@5x5,
# avg pool, dense 120 (dropout 0.5, L2), 84, 10. ModelSpec's dropout follows every hidden dense
# layer, so the 84 layer gets dropout 0.5 too (the report had it after 120 only).
LENET5_LIKE = ModelSpec("cnn", (120, 84), "relu", dropout=0.5, conv=(
    ConvBlock(6, 5, padding=2, pool="avg"), ConvBlock(16, 5, pool="avg")))

# The small LeNet: convs of 4, 8, 16 channels, 3x3 kernels, max then avg pooling, and a
# flatten of 400 = 16 x 5 x 5 (28 -pad 1-> 28 -pool-> 14 -pad 1-> 14 -pool-> 7 -no pad-> 5).
SMALL_LENET = ModelSpec("cnn", (84,), "relu", conv=(
    ConvBlock(4, 3, padding=1, pool="max"), ConvBlock(8, 3, padding=1, pool="avg"),
    ConvBlock(16, 3, padding=0, pool="none")))

# numpy-mlp-100's network in PyTorch: 784-100-10, sigmoid (init differs: torch's default).
TORCH_MLP_100 = ModelSpec("mlp", (100,), "sigmoid")

# 2-D moons: 20 hidden units, in the NumPy engine and in PyTorch (relu: the NumPy engine has
# sigmoid and relu only).
MOONS_NUMPY = ModelSpec("mlp", (20,), "relu", engine="numpy")
MOONS_TORCH = ModelSpec("mlp", (20,), "relu")

CIFAR_MLP = ModelSpec("mlp", (3000,), "relu")

# Keras' l2(lam) adds lam * sum(w^2) to the loss; its gradient is 2 * lam * w, which is what
# weight_decay = 2 * lam adds (coupled, as SGD's weight_decay is).
HINTON_L2 = (1e-6, 1e-5, 1e-4, 1e-3)


def _mnist(**kw) -> RunConfig:
    return RunConfig(dataset="mnist", **kw)


EXPERIMENTS: dict[str, Experiment] = {e.key: e for e in (
    Experiment(
        "keras-mlp", "Keras MLP 784-64-64-10",
        "The notebook's first network: two hidden layers of 64 ReLUs, plain SGD at 0.1, "
        "batch 128, pixels scaled to [0, 1]. Ten epochs take it to about 97 %.",
        "~97.3 % test", 0.973,
        (("MLP 64-64, SGD 0.1", _mnist(model="mlp-64-64", normalize=False, lr=0.1,
                                       batch_size=128, epochs=10, **PLAIN_SGD)),)),
    Experiment(
        "hinton-sweep", "Hinton's 784-500-300 and weight decay",
        "The MLP from LeCun's table, trained with L2 from 1e-6 to 1e-3 for 40 epochs: the "
        "weight decay barely moves a network this size on MNIST. The Experiments page sweeps "
        "any setting like this and overlays the curves.",
        "98.0-98.3 % (40 epochs); LeCun's table 98.47 %", 0.9847,
        tuple((f"L2 {lam:g}", _mnist(model="mlp-500-300", normalize=False, lr=0.1,
                                     batch_size=128, epochs=40,
                                     **{**PLAIN_SGD, "weight_decay": 2 * lam}))
              for lam in HINTON_L2),
        kind="sweep"),
    Experiment(
        "lenet5-like", "LeNet-5-like CNN",
        "Two 5x5 convolutions with average pooling and dense 120-84, dropout and L2, trained "
        "with Adam at 1e-3 for 40 epochs: the report's best MNIST network.",
        "99.19 % test (40 epochs)", 0.9919,
        (("LeNet-5-like, Adam 1e-3", _mnist(model="custom", spec=LENET5_LIKE, normalize=False,
                                            optimizer="adam", lr=1e-3, weight_decay=1e-4,
                                            batch_size=128, epochs=40, schedule="none")),)),
    Experiment(
        "small-lenet", "A small LeNet: 4, 8, 16 channels",
        "Three 3x3 convolutions of 4, 8 and 16 channels, a 400-84-10 head. The report trained "
        "it with plain SGD at 0.001 (Keras' batch of 32); Adam at the same rate shows how much "
        "of that figure was the optimizer.",
        "95.56 % test with SGD 0.001", 0.9556,
        (("SGD 0.001", _mnist(model="custom", spec=SMALL_LENET, normalize=False, lr=1e-3,
                              batch_size=32, epochs=10, **PLAIN_SGD)),
         ("Adam 0.001", _mnist(model="custom", spec=SMALL_LENET, normalize=False,
                               optimizer="adam", lr=1e-3, weight_decay=0.0, batch_size=32,
                               epochs=10, schedule="none"))),
        run_reported=(("Adam 0.001", "not in the report"),)),
    Experiment(
        "normalization", "Input normalization: MLP and CNN",
        "MLP 784-128-10 and the conv 10, conv 20, fc 320 CNN, each on raw [0, 1] pixels and on "
        "pixels standardized with MNIST's mean 0.1307 and std 0.3081. Same SGD, same seed: the "
        "curves show what centring the inputs does to the first epochs.",
        "no single figure: compare the four curves", None,
        tuple((f"{name}, {'normalized' if norm else 'raw [0, 1]'}",
               _mnist(model=model, normalize=norm, optimizer="sgd", lr=0.01, momentum=0.5,
                      weight_decay=0.0, batch_size=64, epochs=5, schedule="none"))
              for name, model in (("MLP 784-128-10", "mlp-128"), ("CNN 10-20", "cnn-10-20"))
              for norm in (False, True))),
    Experiment(
        "overfitting", "Overfitting: 2,000 images against 60,000",
        "The same 784-500-300-10 MLP on the first 2,000 training images and on all of them, "
        "10 % held out for validation. On 2,000 images the training accuracy reaches 100 % "
        "while validation stalls: the gap is overfitting.",
        "no single figure: the train-validation gap", None,
        tuple((label, _mnist(model="mlp-500-300", train_subset=subset, val_fraction=0.1,
                             optimizer="adam", lr=1e-3, weight_decay=0.0, batch_size=128,
                             epochs=20, schedule="none"))
              for label, subset in (("first 2,000 images", 2000), ("all 60,000 images", 0)))),
    Experiment(
        "numpy-vs-torch", "The NumPy MLP against PyTorch",
        "The from-scratch NumPy network (784-100-10, sigmoid, hand-written backprop) and the "
        "same network in PyTorch, both with plain SGD at the same rate and batch. Same "
        "architecture, same updates: the curves should nearly coincide.",
        "no single figure: NumPy and PyTorch alike", None,
        (("NumPy 784-100-10", _mnist(model="numpy-mlp-100", normalize=False, lr=0.5,
                                     batch_size=32, epochs=10, **PLAIN_SGD)),
         ("PyTorch 784-100-10", _mnist(model="custom", spec=TORCH_MLP_100, normalize=False,
                                       lr=0.5, batch_size=32, epochs=10, **PLAIN_SGD))),
        kind="numpy-vs-torch"),
    Experiment(
        "moons", "make_moons: 20 hidden units, NumPy and PyTorch",
        "1,000 points of two interleaving moons with noise 0.2 and an MLP of 20 hidden units, "
        "in the NumPy engine and in PyTorch. The decision boundary bends around the moons; the "
        "Playground trains such nets live on any toy set.",
        "no single figure: a boundary that follows the moons", None,
        tuple((label, RunConfig(dataset="moons", toy_size=1000, toy_noise=0.2, model="custom",
                                spec=spec, lr=0.5, batch_size=32, epochs=50, **PLAIN_SGD))
              for label, spec in (("NumPy 2-20-2", MOONS_NUMPY),
                                  ("PyTorch 2-20-2", MOONS_TORCH))),
        kind="toy"),
    Experiment(
        "cifar10", "CIFAR-10: a wide MLP against a small VGG",
        "On colour photos a 3072-3000-10 MLP with Adam and weight decay stalls far below what a "
        "small VGG (three pairs of 3x3 convolutions with batch norm) reaches: convolutions "
        "share weights across the image.",
        "no single figure: the gap between MLP and CNN", None,
        (("MLP 3072-3000-10", RunConfig(dataset="cifar10", model="custom", spec=CIFAR_MLP,
                                        optimizer="adam", lr=1e-3, weight_decay=1e-4,
                                        batch_size=128, epochs=10, schedule="none")),
         ("vgg-small", RunConfig(dataset="cifar10", model="vgg-small", optimizer="adam",
                                 lr=1e-3, weight_decay=1e-4, batch_size=128, epochs=10,
                                 schedule="none")))),
    Experiment(
        "palindrome", "A vanilla RNN on palindromes",
        "A tanh RNN reads a digit palindrome without its last digit and must output it: the "
        "first digit, carried across the whole sequence. Accuracy against length shows how "
        "fast a vanilla RNN forgets.",
        "accuracy falls with length towards chance (10 %)", None, (),
        kind="palindrome",
        settings=(("lengths", tuple(DEFAULT_LENGTHS)), ("hidden", 64), ("epochs", 10),
                  ("optimizer", "rmsprop"), ("lr", 1e-3), ("n_train", 5000))),
)}


def experiment(key: str) -> Experiment:
    """One experiment by key, or KeyError naming the valid ones."""
    try:
        return EXPERIMENTS[key]
    except KeyError:
        raise KeyError(f"unknown experiment {key!r}; choose one of "
                       f"{', '.join(EXPERIMENTS)}") from None
