"""A run's whole configuration: one frozen dataclass, saved with every run as plain JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace

from nnkit import datainfo, specs

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULES = ("none", "step", "cosine", "onecycle")
DEVICES = ("auto", "cpu", "cuda", "mps")
# The most parameters a model may have. Training takes ~16 bytes a parameter (float32 weights,
# gradients and Adam's two moments), so 100 M is ~1.6 GB, about what a student's laptop can
# spare; every preset here has under 2 M, and 99 % on MNIST needs ~20 k. Refused before
# training, with the size, rather than an allocation error (or a swapping machine) later.
MAX_PARAMS = 100_000_000
# What a sweep may vary (nnkit.training.sweep), with the names the pages show.
SWEEP_PARAMS = {"weight_decay": "Weight decay", "lr": "Learning rate", "batch_size": "Batch size",
                "epochs": "Epochs", "train_subset": "Training images", "dropout": "Dropout",
                "hidden": "Hidden width"}


@dataclass(frozen=True)
class RunConfig:
    # data
    dataset: str = "mnist"  # mnist | fashion-mnist | cifar10 | a toy set | a user dataset
    normalize: bool = True  # subtract the dataset mean, divide by its std
    train_subset: int = 0  # use only the first N training images (0 = all)
    val_fraction: float = 0.0  # share of the training images held out for validation
    toy_size: int = 1000  # points in a toy 2-D training set
    toy_noise: float = 0.2  # noise of a toy 2-D set
    # model
    model: str = "fast-cnn"  # a preset name, or "custom" with `spec`
    spec: specs.ModelSpec | None = None  # the architecture when model == "custom"
    # optimization
    optimizer: str = "adamw"  # sgd | adam | adamw | rmsprop
    lr: float = 1e-2  # learning rate (the peak rate under one-cycle)
    momentum: float = 0.9  # SGD and RMSprop momentum
    nesterov: bool = False  # SGD only
    weight_decay: float = 1e-4  # L2 penalty (decoupled for AdamW)
    batch_size: int = 64  # with the defaults: fast-cnn >= 99.0 % in one epoch, ~12 s on 2 cores
    epochs: int = 1
    schedule: str = "onecycle"  # none | step | cosine | onecycle
    step_size: int = 1  # epochs between decays for the step schedule
    gamma: float = 0.5  # decay factor for the step schedule
    label_smoothing: float = 0.0
    seed: int = 0  # same seed and config on the CPU -> same curves
    device: str = "auto"  # auto (cuda, then mps, then cpu) | cpu | cuda | mps
    eval_each_epoch: bool = True  # test-set evaluation after every epoch, not only at the end

    def model_spec(self) -> specs.ModelSpec:
        """The architecture: the preset's, or the custom spec."""
        if self.model == "custom":
            if self.spec is None:
                raise ConfigError("spec", "a custom model needs a spec")
            return self.spec
        return specs.preset(self.model)

    def to_json(self) -> str:
        """Plain JSON (asdict)."""
        return json.dumps(asdict(self), sort_keys=True)

    @staticmethod
    def from_dict(d: dict) -> RunConfig:
        """Build from a dict such as to_json's; unknown keys raise ConfigError."""
        names = {f.name for f in fields(RunConfig)}
        unknown = set(d) - names
        if unknown:
            raise ConfigError(sorted(unknown)[0], "is not a run setting")
        d = dict(d)
        if d.get("spec") is not None and not isinstance(d["spec"], specs.ModelSpec):
            d["spec"] = specs.ModelSpec.from_dict(d["spec"])
        return RunConfig(**d)

    @staticmethod
    def from_json(text: str) -> RunConfig:
        return RunConfig.from_dict(json.loads(text))

    def with_changes(self, **changes) -> RunConfig:
        """A copy with fields replaced."""
        return replace(self, **changes)


class ConfigError(ValueError):
    """An invalid setting; `field` names it and the message gives the allowed range."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def _range(errors, name, value, lo, hi, lo_open=False, kind=float):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int and not isinstance(value, int):
        ok = False
    if ok and value == value:  # NaN fails the comparisons below
        above = value > lo if lo_open else value >= lo
        if above and value <= hi:
            return
    bracket = "(" if lo_open else "["
    what = "a whole number" if kind is int else "a number"
    errors.append(ConfigError(name, f"must be {what} in {bracket}{lo:g}, {hi:g}] (got {value!r})"))


def validate(cfg: RunConfig) -> list[ConfigError]:
    """Every problem with the config, each naming its field and the allowed range."""
    errors: list[ConfigError] = []
    known = datainfo.names()  # the built-in datasets and the user's own
    if cfg.dataset not in known:
        errors.append(ConfigError("dataset", f"must be one of {', '.join(known)} "
                                  f"(got {cfg.dataset!r})"))
    if cfg.model != "custom" and cfg.model not in specs.PRESETS:
        errors.append(ConfigError("model", f"must be a preset ({', '.join(specs.PRESETS)}) or "
                                  f"'custom' (got {cfg.model!r})"))
    if cfg.optimizer not in OPTIMIZERS:
        errors.append(ConfigError("optimizer", f"must be one of {', '.join(OPTIMIZERS)} "
                                  f"(got {cfg.optimizer!r})"))
    if cfg.schedule not in SCHEDULES:
        errors.append(ConfigError("schedule", f"must be one of {', '.join(SCHEDULES)} "
                                  f"(got {cfg.schedule!r})"))
    if cfg.device not in DEVICES:
        errors.append(ConfigError("device", f"must be one of {', '.join(DEVICES)} "
                                  f"(got {cfg.device!r})"))
    _range(errors, "lr", cfg.lr, 0, 10, lo_open=True)
    _range(errors, "momentum", cfg.momentum, 0, 0.999)
    _range(errors, "weight_decay", cfg.weight_decay, 0, 1)
    _range(errors, "batch_size", cfg.batch_size, 1, 65536, kind=int)
    _range(errors, "epochs", cfg.epochs, 1, 1000, kind=int)
    _range(errors, "step_size", cfg.step_size, 1, 1000, kind=int)
    _range(errors, "gamma", cfg.gamma, 0, 1, lo_open=True)
    _range(errors, "label_smoothing", cfg.label_smoothing, 0, 0.99)
    _range(errors, "val_fraction", cfg.val_fraction, 0, 0.5)
    _range(errors, "train_subset", cfg.train_subset, 0, 10_000_000, kind=int)
    _range(errors, "toy_size", cfg.toy_size, 20, 1_000_000, kind=int)
    _range(errors, "toy_noise", cfg.toy_noise, 0, 5)
    _range(errors, "seed", cfg.seed, 0, 2**31 - 1, kind=int)
    if cfg.nesterov and (cfg.optimizer != "sgd" or cfg.momentum <= 0):
        errors.append(ConfigError("nesterov", "needs the sgd optimizer with momentum > 0"))
    if not errors:
        try:
            spec = cfg.model_spec()
            ds = datainfo.info(cfg.dataset)
            specs.check_spec(spec, ds.input_shape)
            n = sum(row.params for row in specs.summary(spec, ds.input_shape, ds.num_classes))
            if n > MAX_PARAMS:
                errors.append(ConfigError("spec", f"the model has {n:,} parameters, more than "
                                          f"the limit of {MAX_PARAMS:,} (training it would take "
                                          f"about {n * 16 / 1e9:,.1f} GB); use fewer or "
                                          "narrower layers"))
            if spec.engine == "numpy" and (cfg.optimizer != "sgd" or cfg.schedule != "none"):
                errors.append(ConfigError("optimizer", "the NumPy engine trains with plain sgd "
                                          "and no schedule"))
        except (specs.SpecError, ConfigError) as e:
            errors.append(e if isinstance(e, ConfigError) else ConfigError("spec", str(e)))
    return errors


def check(cfg: RunConfig) -> RunConfig:
    """Return cfg, or raise the first ConfigError."""
    errors = validate(cfg)
    if errors:
        raise errors[0]
    return cfg


def to_query(cfg: RunConfig) -> dict[str, str]:
    """The settings that differ from the defaults, as URL query parameters."""
    default, out = RunConfig(), {}
    for f in fields(RunConfig):
        value = getattr(cfg, f.name)
        if value == getattr(default, f.name):
            continue
        if f.name == "spec":
            out["spec"] = json.dumps(value.to_dict(), separators=(",", ":")) if value else ""
        elif isinstance(value, bool):
            out[f.name] = "1" if value else "0"
        else:
            out[f.name] = str(value)
    return out


def from_query(params: dict[str, str]) -> tuple[RunConfig, list[str]]:
    """A config from URL query parameters; anything unreadable falls back to its default and
    is named in the returned notices. Keys that are not settings are ignored."""
    default, values, notices = RunConfig(), {}, []
    for f in fields(RunConfig):
        if f.name not in params:
            continue
        raw, kind = params[f.name], type(getattr(default, f.name))
        try:
            if f.name == "spec":
                values["spec"] = specs.ModelSpec.from_dict(json.loads(raw)) if raw else None
            elif kind is bool:
                if raw not in ("0", "1", "true", "false"):
                    raise ValueError(raw)
                values[f.name] = raw in ("1", "true")
            else:
                values[f.name] = kind(raw)
        except (ValueError, TypeError, KeyError, json.JSONDecodeError):
            notices.append(f"{f.name}={raw[:40]!r} in the link is not valid; using the default")
    if values.get("model") == "custom" and values.get("spec") is None:
        values["spec"] = specs.ModelSpec()  # "custom" alone starts from a plain MLP
    cfg = RunConfig(**values)
    for err in validate(cfg):  # readable but out of range: drop that field
        if err.field in values:
            values.pop(err.field)
            notices.append(f"{err}; using the default")
    cfg = RunConfig(**values)
    if validate(cfg):
        notices.append("the link's settings do not fit together; using the defaults")
        cfg = RunConfig()
    return cfg, notices
