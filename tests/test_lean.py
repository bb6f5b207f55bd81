"""The lean step is plain SGD: equal to autograd + torch.optim.SGD, update after update; and a
stack of K models equals each model trained alone."""
import copy

import pytest
import torch

from glorot_repro.activations import ACTIVATIONS
from glorot_repro.lean import LeanSGD
from glorot_repro.losses import LOSSES, cost
from glorot_repro.model import DeepMLP


def small_net(activation="tanh", seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    return DeepMLP(20, 5, depth=4, width=16, activation=activation, init="normalized").to(dtype)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_lean_equals_autograd_sgd_over_many_updates(activation, loss):
    lean_model = small_net(activation)
    ref_model = copy.deepcopy(lean_model)
    lean = LeanSGD([lean_model], [0.1], loss)
    opt = torch.optim.SGD(ref_model.parameters(), lr=0.1)
    for _ in range(200):
        x = torch.rand(10, 20, dtype=torch.float64)
        y = torch.randint(0, 5, (10,))
        value, logits = lean.step(x.unsqueeze(0), y.unsqueeze(0))
        ref_logits = ref_model(x)
        ref_value = cost(ref_logits, y, loss)
        opt.zero_grad()
        ref_value.backward()
        opt.step()
        torch.testing.assert_close(value[0], ref_value.detach())
        torch.testing.assert_close(logits[0], ref_logits.detach())
    for a, b in zip(lean_model.parameters(), ref_model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_lean_float32_stays_close_to_autograd():
    """In float32 the two differ only by rounding (summation order), over 500 updates."""
    torch.manual_seed(1)
    lean_model = DeepMLP(64, 9, depth=5, width=100, activation="tanh", init="normalized")
    ref_model = copy.deepcopy(lean_model)
    lean = LeanSGD([lean_model], [0.05], "nll")
    opt = torch.optim.SGD(ref_model.parameters(), lr=0.05)
    for _ in range(500):
        x, y = torch.rand(10, 64), torch.randint(0, 9, (10,))
        lean.step(x.unsqueeze(0), y.unsqueeze(0))
        opt.zero_grad()
        cost(ref_model(x), y, "nll").backward()
        opt.step()
    for a, b in zip(lean_model.parameters(), ref_model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_stacked_replicas_equal_models_trained_alone():
    """Three models (different seeds and learning rates) as one stack, each on its own data,
    end where each ends when trained alone; the models' parameters are views of the stacks."""
    settings = [(0, 0.1), (1, 0.03), (2, 0.3)]
    stacked = [small_net(seed=s) for s, _ in settings]
    alone = [copy.deepcopy(m) for m in stacked]
    stack = LeanSGD(stacked, [lr for _, lr in settings], "nll")
    singles = [LeanSGD([m], [lr], "nll") for m, (_, lr) in zip(alone, settings)]
    gen = torch.Generator().manual_seed(0)
    for _ in range(100):
        x = torch.rand(3, 10, 20, dtype=torch.float64, generator=gen)
        y = torch.randint(0, 5, (3, 10), generator=gen)
        values, _ = stack.step(x, y)
        for k, single in enumerate(singles):
            value, _ = single.step(x[k:k + 1], y[k:k + 1])
            torch.testing.assert_close(values[k], value[0])
    for m_stacked, m_alone in zip(stacked, alone):
        for a, b in zip(m_stacked.parameters(), m_alone.parameters()):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-13)
    assert stacked[1].hidden[0].weight.data_ptr() == stack.weights[0][1].data_ptr()
