"""The lean step is plain SGD: equal to autograd + torch.optim.SGD, update after update."""
import copy

import pytest
import torch

from glorot_repro.activations import ACTIVATIONS
from glorot_repro.lean import LeanSGD
from glorot_repro.losses import LOSSES, cost
from glorot_repro.model import DeepMLP


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_lean_equals_autograd_sgd_over_many_updates(activation, loss):
    torch.manual_seed(0)
    lean_model = DeepMLP(20, 5, depth=4, width=16, activation=activation, init="normalized").double()
    ref_model = copy.deepcopy(lean_model)
    lean = LeanSGD(lean_model, lr=0.1, loss=loss)
    opt = torch.optim.SGD(ref_model.parameters(), lr=0.1)
    for _ in range(200):
        x = torch.rand(10, 20, dtype=torch.float64)
        y = torch.randint(0, 5, (10,))
        value, logits = lean.step(x, y)
        ref_logits = ref_model(x)
        ref_value = cost(ref_logits, y, loss)
        opt.zero_grad()
        ref_value.backward()
        opt.step()
        torch.testing.assert_close(value, ref_value.detach())
        torch.testing.assert_close(logits, ref_logits.detach())
    for a, b in zip(lean_model.parameters(), ref_model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
        assert not torch.equal(a, torch.zeros_like(a))


def test_lean_float32_stays_close_to_autograd():
    """In float32 the two differ only by rounding (summation order), over 500 updates."""
    torch.manual_seed(1)
    lean_model = DeepMLP(64, 9, depth=5, width=100, activation="tanh", init="normalized")
    ref_model = copy.deepcopy(lean_model)
    lean = LeanSGD(lean_model, lr=0.05, loss="nll")
    opt = torch.optim.SGD(ref_model.parameters(), lr=0.05)
    for _ in range(500):
        x, y = torch.rand(10, 64), torch.randint(0, 9, (10,))
        lean.step(x, y)
        opt.zero_grad()
        cost(ref_model(x), y, "nll").backward()
        opt.step()
    for a, b in zip(lean_model.parameters(), ref_model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
