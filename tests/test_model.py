"""Activations against torch's own, and DeepMLP's shape and internals."""
import pytest
import torch
import torch.nn.functional as F

from glorot_repro.errors import ConfigError
from glorot_repro.nets.activations import (ACTIVATIONS, DERIVATIVES, DERIVATIVES_OF_OUTPUT,
                                           get_activation)
from glorot_repro.nets.model import DeepMLP

REFERENCE = {"sigmoid": torch.nn.Sigmoid(), "tanh": torch.nn.Tanh(), "softsign": F.softsign,
             "relu": torch.nn.ReLU(), "softplus": torch.nn.Softplus()}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_matches_torch_value_and_gradient(name):
    x = torch.linspace(-8, 8, 1001, dtype=torch.float64, requires_grad=True)
    ours = get_activation(name)(x)
    ref = REFERENCE[name](x)
    torch.testing.assert_close(ours, ref)
    g_ours, = torch.autograd.grad(ours.sum(), x)
    g_ref, = torch.autograd.grad(ref.sum(), x)
    torch.testing.assert_close(g_ours, g_ref)


def test_unknown_activation_lists_valid_ones():
    with pytest.raises(ConfigError, match="unknown activation 'gelu'; valid: relu, sigmoid"):
        get_activation("gelu")


def test_forward_shapes_and_internals():
    torch.manual_seed(0)
    model = DeepMLP(12, 9, depth=4, width=7, activation="softsign", init="standard")
    x = torch.rand(5, 12)
    logits, pre, post = model(x, internals=True)
    assert logits.shape == (5, 9) and len(pre) == len(post) == 4
    assert all(s.shape == (5, 7) for s in pre)
    for s, z in zip(pre, post):  # z^l = f(s^l)
        torch.testing.assert_close(z, F.softsign(s))
    torch.testing.assert_close(model(x), logits)
    assert len(model.layers) == 5
    # The same net built by hand from nn.Sequential gives the same logits.
    seq = torch.nn.Sequential(*[m for layer in model.hidden for m in (layer, torch.nn.Softsign())],
                              model.output)
    torch.testing.assert_close(seq(x), logits)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_derivatives_equal_autograd_from_input_and_from_output(name):
    """f'(s) from s (backprop, probes) and from z = f(s) (the lean step) against autograd."""
    s = torch.linspace(-6, 6, 241, dtype=torch.float64).requires_grad_()
    z = ACTIVATIONS[name](s)
    (reference,) = torch.autograd.grad(z.sum(), s)
    torch.testing.assert_close(DERIVATIVES[name](s.detach()), reference)
    torch.testing.assert_close(DERIVATIVES_OF_OUTPUT[name](z.detach()), reference)
