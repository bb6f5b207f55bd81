"""The lean step is plain SGD: equal to autograd + torch.optim.SGD, update after update, whether
each update is written into the weights at once or deferred; and a stack of K models equals each
model trained alone. Every test runs on each path of the step: the compiled kernel's products
(glorot_repro/training/fast/kernels, each build the CPU runs) and torch's."""
import copy

import pytest
import torch

from glorot_repro.nets.activations import ACTIVATIONS
from glorot_repro.nets.losses import LOSSES, cost
from glorot_repro.nets.model import DeepMLP
from glorot_repro.training.fast import kernels
from glorot_repro.training.fast.lean import LeanSGD


def small_net(activation="tanh", seed=0, dtype=torch.float64, width=16):
    torch.manual_seed(seed)
    return DeepMLP(20, 5, depth=4, width=width, activation=activation,
                   init="normalized").to(dtype)


@pytest.fixture(autouse=True, params=["kernel", "kernel-avx2", "torch"])
def products(request, monkeypatch):
    """Which products the step runs on: the kernel's default build (AVX-512 where the CPU has it,
    which also takes sync()'s writes), its AVX2 build, or torch's. A build that does not load on
    this machine is skipped; on an AVX2-only CPU the first two are the same."""
    if request.param == "torch":
        monkeypatch.setattr(kernels, "load", lambda isa=None: None)
        return request.param
    if request.param == "kernel-avx2":
        monkeypatch.setenv(kernels.ISA_VAR, "avx2")
    if kernels.load() is None:
        pytest.skip(f"the compiled kernel ({kernels.default_isa()}) does not load on this machine")
    return request.param


# With minibatches of 4 and defer=3 the pending factors (12 rows) of a 64-unit layer are smaller
# than its weights, so every layer but the 5-unit output one is deferred.
WIDE, BATCH = 64, 4


@pytest.mark.parametrize("defer", [1, 3])
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_lean_equals_autograd_sgd_over_many_updates(activation, loss, defer, products):
    """Every update's cost and logits, and the weights at the end; with defer=3 the 200 updates
    end with 2 still pending, written in by sync()."""
    lean_model = small_net(activation, width=WIDE)
    ref_model = copy.deepcopy(lean_model)
    lean = LeanSGD([lean_model], [0.1], loss, defer=defer)
    assert (lean.kernel is not None) == (products != "torch")
    opt = torch.optim.SGD(ref_model.parameters(), lr=0.1)
    for _ in range(200):
        x = torch.rand(BATCH, 20, dtype=torch.float64)
        y = torch.randint(0, 5, (BATCH,))
        value, logits = lean.step(x.unsqueeze(0), y.unsqueeze(0))
        ref_logits = ref_model(x)
        ref_value = cost(ref_logits, y, loss)
        opt.zero_grad()
        ref_value.backward()
        opt.step()
        torch.testing.assert_close(value[0], ref_value.detach())
        torch.testing.assert_close(logits[0], ref_logits.detach())
    assert lean.pending == (defer > 1)
    assert [d is not None for d in lean.pending_d] == [defer > 1] * 4 + [False]
    lean.sync()
    assert not lean.pending
    for a, b in zip(lean_model.parameters(), ref_model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_deferred_updates_are_written_at_each_sync_and_every_defer_steps():
    """The weights (what evaluation, probes and checkpoints read) match immediate SGD after any
    sync, however the syncs fall, and without one after every `defer` updates."""
    deferred_model, immediate_model = small_net(width=WIDE), small_net(width=WIDE)
    deferred = LeanSGD([deferred_model], [0.1], "nll", defer=5)
    immediate = LeanSGD([immediate_model], [0.1], "nll", defer=1)
    before = deferred_model.hidden[1].weight.clone()
    for u in range(1, 31):
        x, y = torch.rand(1, BATCH, 20, dtype=torch.float64), torch.randint(0, 5, (1, BATCH))
        deferred.step(x, y)
        immediate.step(x, y)
        if u in (3, 11, 12):
            deferred.sync()
        if u == 2:  # two updates pending, none written
            assert torch.equal(deferred_model.hidden[1].weight, before)
        if not deferred.pending:
            for a, b in zip(deferred_model.parameters(), immediate_model.parameters()):
                torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-13)
    # Written at 3, 8, 11, 12, 17, 22, 27; 28-30 still pending.
    assert deferred.pending


def test_defer_must_be_positive():
    with pytest.raises(ValueError, match="defer must be >= 1"):
        LeanSGD([small_net()], [0.1], "nll", defer=0)


def test_lean_float32_stays_close_to_autograd():
    """In float32 the two differ only by rounding (summation order), over 500 updates."""
    torch.manual_seed(1)
    lean_model = DeepMLP(64, 9, depth=5, width=100, activation="tanh", init="normalized")
    ref_model = copy.deepcopy(lean_model)
    lean = LeanSGD([lean_model], [0.05], "nll", defer=10)
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
    stacked = [small_net(seed=s, width=WIDE) for s, _ in settings]
    alone = [copy.deepcopy(m) for m in stacked]
    stack = LeanSGD(stacked, [lr for _, lr in settings], "nll", defer=3)
    singles = [LeanSGD([m], [lr], "nll", defer=3) for m, (_, lr) in zip(alone, settings)]
    gen = torch.Generator().manual_seed(0)
    for _ in range(100):
        x = torch.rand(3, BATCH, 20, dtype=torch.float64, generator=gen)
        y = torch.randint(0, 5, (3, BATCH), generator=gen)
        values, _ = stack.step(x, y)
        for k, single in enumerate(singles):
            value, _ = single.step(x[k:k + 1], y[k:k + 1])
            torch.testing.assert_close(values[k], value[0])
    for lean in [stack, *singles]:
        lean.sync()
    for m_stacked, m_alone in zip(stacked, alone):
        for a, b in zip(m_stacked.parameters(), m_alone.parameters()):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-13)
    assert stacked[1].hidden[0].weight.data_ptr() == stack.weights[0][1].data_ptr()
