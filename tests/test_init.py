"""Inits against their closed forms (eqs. 1, 12, 15, 16; He, LeCun, orthogonal) and torch's own
xavier_uniform_, kaiming_uniform_ and orthogonal_; He's claim about ReLU nets, measured."""
import math

import pytest
import torch

from glorot_repro.errors import ConfigError
from glorot_repro.measure.probes import layer_internals
from glorot_repro.measure.theory import predict_variances
from glorot_repro.nets.init import INITS, init_linear_
from glorot_repro.nets.model import DeepMLP


@pytest.mark.parametrize("fan_in,fan_out", [(1024, 1000), (1000, 1000), (1000, 9)])
def test_normalized_matches_xavier_uniform_gain_1(fan_in, fan_out):
    ours, ref = torch.nn.Linear(fan_in, fan_out), torch.empty(fan_out, fan_in)
    torch.manual_seed(3)
    init_linear_(ours, "normalized")
    torch.manual_seed(3)
    torch.nn.init.xavier_uniform_(ref, gain=1.0)
    torch.testing.assert_close(ours.weight.data, ref, rtol=0, atol=0)
    assert torch.count_nonzero(ours.bias) == 0


CLOSED_FORMS = {
    "standard": lambda n_in, n_out: 1 / (3 * n_in),         # U[±1/sqrt(n)]: n Var W = 1/3 (eq. 15)
    "normalized": lambda n_in, n_out: 2 / (n_in + n_out),   # eq. 12
    "he": lambda n_in, n_out: 2 / n_in,                     # He et al. 2015
    "lecun": lambda n_in, n_out: 1 / n_in,                  # LeCun et al. 1998
    "orthogonal": lambda n_in, n_out: 1 / max(n_in, n_out),  # semi-orthogonal: see init.py
}


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
@pytest.mark.parametrize("fan_in,fan_out", [(1000, 800), (800, 1000)])
def test_empirical_variance_matches_closed_form(name, fan_in, fan_out):
    torch.manual_seed(0)
    layer = torch.nn.Linear(fan_in, fan_out)
    init_linear_(layer, name)
    w = layer.weight.data
    var = CLOSED_FORMS[name](fan_in, fan_out)
    assert INITS[name].variance(fan_in, fan_out) == pytest.approx(var)
    # 800k samples of a uniform: the sample variance's relative std is sqrt(0.8/N) ~ 0.1%.
    assert w.pow(2).mean().item() == pytest.approx(var, rel=0.01)
    assert torch.count_nonzero(layer.bias) == 0
    if name != "orthogonal":
        bound = math.sqrt(3 * var)  # a uniform U[-b, b] has variance b^2/3
        assert w.abs().max().item() <= bound
        assert w.abs().max().item() > 0.999 * bound


@pytest.mark.parametrize("name,nonlinearity", [("he", "relu"), ("lecun", "linear")])
@pytest.mark.parametrize("fan_in,fan_out", [(1024, 1000), (1000, 9)])
def test_he_and_lecun_match_kaiming_uniform(name, nonlinearity, fan_in, fan_out):
    """He = kaiming_uniform_ with ReLU's gain sqrt(2); LeCun = kaiming_uniform_ with gain 1."""
    ours, ref = torch.nn.Linear(fan_in, fan_out), torch.empty(fan_out, fan_in)
    torch.manual_seed(3)
    init_linear_(ours, name)
    torch.manual_seed(3)
    torch.nn.init.kaiming_uniform_(ref, mode="fan_in", nonlinearity=nonlinearity)
    torch.testing.assert_close(ours.weight.data, ref, rtol=1e-6, atol=0)


@pytest.mark.parametrize("fan_in,fan_out", [(1024, 1000), (1000, 1000), (9, 1000)])
def test_orthogonal_has_orthonormal_rows_or_columns(fan_in, fan_out):
    torch.manual_seed(0)
    layer = torch.nn.Linear(fan_in, fan_out)
    init_linear_(layer, "orthogonal")
    w = layer.weight.data.double()
    gram = w @ w.T if fan_out <= fan_in else w.T @ w  # (fan_out, fan_in): rows, else columns
    torch.testing.assert_close(gram, torch.eye(min(fan_in, fan_out), dtype=torch.float64),
                               atol=1e-5, rtol=0)


def relu_preactivation_second_moments(init: str, depth: int = 10, width: int = 500) -> list[float]:
    """E[(s^l)^2], l = 1..depth, of a ReLU net at init on standard-normal inputs."""
    torch.manual_seed(0)
    model = DeepMLP(width, 10, depth=depth, width=width, activation="relu", init=init).double()
    x = torch.randn(1000, width, dtype=torch.float64)
    internals = layer_internals(model, x, torch.randint(0, 10, (1000,)), "nll")
    return [s.pow(2).mean().item() for s in internals.pre]


def test_he_init_keeps_relu_preactivations_constant_lecun_halves_them():
    """He et al. (2015): with Var[W] = 2/fan_in, Var[s^l] is the same in every layer of a ReLU net,
    since the ReLU halves the second moment and the 2 restores it; with LeCun's 1/fan_in it halves
    at each layer. 10 layers of 500 units: each layer's ratio wanders by a few percent (finite
    width), so He's profile stays within a factor 1.5, and LeCun's ratios within [0.35, 0.65]."""
    he = relu_preactivation_second_moments("he")
    assert max(he) / min(he) < 1.5, he
    assert he[0] == pytest.approx(2.0, rel=0.05)  # n Var[W] E[x^2] = 500 * (2/500) * 1
    lecun = relu_preactivation_second_moments("lecun")
    ratios = [b / a for a, b in zip(lecun[:-1], lecun[1:])]
    assert all(0.35 < r < 0.65 for r in ratios), ratios
    assert lecun[-1] / lecun[0] == pytest.approx(0.5 ** 9, rel=0.5)
    # The prediction (theory.py) says the same, in closed form.
    for init, ratio in (("he", 1.0), ("lecun", 0.5)):
        pred = predict_variances("relu", init, [500] * 11, 1.0, 1.0, 1.0)
        assert [b / a for a, b in zip(pred.preact[:-1], pred.preact[1:])] == pytest.approx(
            [ratio] * 9)
        assert [a / b for a, b in zip(pred.grad[:-1], pred.grad[1:])] == pytest.approx([ratio] * 9)


def test_every_layer_including_softmax_is_initialised():
    torch.manual_seed(0)
    model = DeepMLP(50, 9, depth=3, width=40, activation="tanh", init="normalized")
    for layer in model.layers:
        bound = math.sqrt(6 / (layer.in_features + layer.out_features))
        assert layer.weight.abs().max() <= bound
        assert layer.weight.abs().max() > 0.9 * bound
        assert torch.count_nonzero(layer.bias) == 0


def test_unknown_init_lists_valid_ones():
    with pytest.raises(ConfigError, match="unknown init 'xavier'; valid: he, lecun, normalized, "
                                          "orthogonal, standard"):
        init_linear_(torch.nn.Linear(3, 3), "xavier")
