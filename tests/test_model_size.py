"""A model too large to train is refused before training, with its size and the limit, by the
config check that both the Train page and the CLI use."""

from __future__ import annotations

import pytest
from apptest import button, open_page, texts

from nnkit import cli
from nnkit.config import MAX_PARAMS, ConfigError, RunConfig, check, validate
from nnkit.models import ModelSpec

HUGE = (100_000, 100_000, 100_000)  # 784-1e5-1e5-1e5-10: 20,079,700,010 parameters
TOO_BIG = ("spec: the model has 20,079,700,010 parameters, more than the limit of 100,000,000 "
           "(training it would take about 321.3 GB); use fewer or narrower layers")


def test_a_model_over_the_limit_is_refused_with_its_size():
    cfg = RunConfig(model="custom", spec=ModelSpec("mlp", HUGE))
    assert [str(e) for e in validate(cfg)] == [TOO_BIG]
    with pytest.raises(ConfigError, match="^spec: the model has 20,079,700,010 parameters"):
        check(cfg)


def test_the_limit_edge():
    assert MAX_PARAMS == 100_000_000
    below = RunConfig(model="custom", spec=ModelSpec("mlp", (100_000,)))
    above = RunConfig(model="custom", spec=ModelSpec("mlp", (100_000, 1_000)))
    n_below = 784 * 100_000 + 100_000 + 100_000 * 10 + 10  # weights + biases, layer by layer
    n_above = 784 * 100_000 + 100_000 + 100_000 * 1_000 + 1_000 + 1_000 * 10 + 10
    assert n_below < MAX_PARAMS < n_above
    assert validate(below) == []
    assert [e.field for e in validate(above)] == ["spec"]
    assert f"the model has {n_above:,} parameters" in str(validate(above)[0])


def test_the_cli_refuses_it_as_an_invalid_setting(capsys):
    code = cli.main(["train", "--model", "mlp-64-64", "--hidden", ",".join(map(str, HUGE))])
    assert code == cli.EXIT_USAGE
    assert capsys.readouterr().err == f"error: {TOO_BIG}\n"


def test_the_train_page_shows_it_and_keeps_train_disabled():
    at = open_page("train")
    next(s for s in at.selectbox if s.label == "Model").set_value("custom")
    at.run()
    next(t for t in at.text_input if t.label == "Dense hidden widths").set_value(
        ", ".join(map(str, HUGE)))
    at.run()
    assert not at.exception
    # "custom" starts from the default fast-cnn: its conv blocks, then these dense layers
    assert "Parameters: 20,052,513,354" in texts(at)
    [error] = [e.value for e in at.error]
    assert error.startswith("**spec**: the model has 20,052,513,354 parameters, more than the "
                            "limit of 100,000,000")
    assert button(at, "Train").disabled is True
