"""Inits against their closed forms (eqs. 1, 12, 15, 16) and torch's xavier_uniform_."""
import math

import pytest
import torch

from glorot_repro.errors import ConfigError
from glorot_repro.init import INITS, init_linear_
from glorot_repro.model import DeepMLP


@pytest.mark.parametrize("fan_in,fan_out", [(1024, 1000), (1000, 1000), (1000, 9)])
def test_normalized_matches_xavier_uniform_gain_1(fan_in, fan_out):
    ours, ref = torch.nn.Linear(fan_in, fan_out), torch.empty(fan_out, fan_in)
    torch.manual_seed(3)
    init_linear_(ours, "normalized")
    torch.manual_seed(3)
    torch.nn.init.xavier_uniform_(ref, gain=1.0)
    torch.testing.assert_close(ours.weight.data, ref, rtol=0, atol=0)
    assert torch.count_nonzero(ours.bias) == 0


@pytest.mark.parametrize("name,expected_var", [
    ("standard", lambda n_in, n_out: 1 / (3 * n_in)),          # U[±1/sqrt(n)]: n Var W = 1/3 (eq. 15)
    ("normalized", lambda n_in, n_out: 2 / (n_in + n_out)),    # eq. 12
])
def test_empirical_variance_matches_closed_form(name, expected_var):
    torch.manual_seed(0)
    layer = torch.nn.Linear(1000, 800)
    init_linear_(layer, name)
    w = layer.weight.data
    var = expected_var(1000, 800)
    # 800k samples of a uniform: the sample variance's relative std is sqrt(0.8/N) ~ 0.1%.
    assert w.var().item() == pytest.approx(var, rel=0.01)
    bound = math.sqrt(3 * var)  # a uniform U[-b, b] has variance b^2/3
    assert w.abs().max().item() <= bound
    assert w.abs().max().item() > 0.999 * bound


def test_standard_equals_bound_over_fan_in():
    assert INITS["standard"](400, 7) == pytest.approx(1 / 20)
    assert INITS["normalized"](400, 200) == pytest.approx(math.sqrt(6 / 600))


def test_every_layer_including_softmax_is_initialised():
    torch.manual_seed(0)
    model = DeepMLP(50, 9, depth=3, width=40, activation="tanh", init="normalized")
    for layer in model.layers:
        bound = math.sqrt(6 / (layer.in_features + layer.out_features))
        assert layer.weight.abs().max() <= bound
        assert layer.weight.abs().max() > 0.9 * bound
        assert torch.count_nonzero(layer.bias) == 0


def test_unknown_init_lists_valid_ones():
    with pytest.raises(ConfigError, match="unknown init 'xavier'.*normalized, standard"):
        init_linear_(torch.nn.Linear(3, 3), "xavier")
