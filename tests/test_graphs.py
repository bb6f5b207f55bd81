"""CUDA graphs of the lean step (glorot_repro/training/fast/graphs.py). On a CPU: the static-buffer step, the
exact ops a graph replays with the Python state handled as around a replay, equals LeanSGD.step
bit for bit, phases of deferred updates and outside syncs included; the capture path with fakes
of torch.cuda's streams and graphs; the trainer's switch. With a CUDA device: captured replays
against eager steps and against the CPU."""
import contextlib
import copy
import logging

import pytest
import torch

from glorot_repro.command.compose import compose_config
from glorot_repro.command.validate import validate
from glorot_repro.errors import ConfigError
from glorot_repro.nets.model import DeepMLP
from glorot_repro.training import step
from glorot_repro.training.fast import graphs
from glorot_repro.training.fast.graphs import GraphedSGD, maybe_graphed
from glorot_repro.training.fast.lean import LeanSGD
from glorot_repro.training.step import AutogradSGD

from conftest import comparable

# Minibatches of 4, 20 inputs, 64 units: with defer=3 every layer but the output is deferred.
BATCH, INPUTS, WIDE = 4, 20, 64


def stack(k=3, dtype=torch.float64, device="cpu", width=WIDE):
    """K small nets, both inits in one stack, as Table 1's jobs train them."""
    nets = []
    for i in range(k):
        torch.manual_seed(i)
        init = "standard" if i % 2 else "normalized"
        nets.append(DeepMLP(INPUTS, 5, depth=4, width=width, activation="tanh",
                            init=init).to(dtype=dtype, device=device))
    return nets


def minibatches(n, k=3, batch=BATCH, dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [(torch.rand(k, batch, INPUTS, dtype=dtype, generator=gen),
             torch.randint(0, 5, (k, batch), generator=gen)) for _ in range(n)]


def weights(lean):
    return [t.clone() for t in lean.weights + lean.biases]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("defer", [1, 3])
def test_static_buffer_step_equals_lean_step_bit_for_bit(defer, dtype):
    """Update after update the same costs, logits, pending rows and weights, with outside syncs
    landing in every phase of the deferred cycle (as evaluations do)."""
    eager = LeanSGD(stack(dtype=dtype), [0.1, 0.03, 0.3], "nll", defer=defer)
    graphed = GraphedSGD(LeanSGD(stack(dtype=dtype), [0.1, 0.03, 0.3], "nll", defer=defer),
                         capture=False)
    syncs = {7, 11, 12, 20, 33}
    for u, (x, y) in enumerate(minibatches(60, dtype=dtype)):
        value, logits = eager.step(x, y)
        g_value, g_logits = graphed.step(x, y)
        assert torch.equal(value, g_value) and torch.equal(logits, g_logits)
        assert graphed.lean.rows == eager.rows and graphed.pending == eager.pending
        if u in syncs:
            eager.sync()
            graphed.sync()
        if not eager.pending:
            assert all(map(torch.equal, weights(eager), weights(graphed.lean)))
    assert graphed.replays is not None and not graphed.captured  # replayed, uncaptured
    assert graphed.eager_steps == max(3, defer + 1)  # warm-up: every phase at least once
    assert len(graphed.replays) == defer  # one per phase of the cycle
    assert graphed.rows_after == [BATCH * (j + 1) for j in range(defer - 1)] + [0]
    eager.sync()
    graphed.sync()
    assert all(map(torch.equal, weights(eager), weights(graphed.lean)))


def test_phases_when_no_layer_is_deferred():
    """At a small width the factors would outweigh W: nothing is deferred, one phase."""
    graphed = GraphedSGD(LeanSGD(stack(width=8), [0.1] * 3, "nll", defer=10), capture=False)
    for x, y in minibatches(6):
        graphed.step(x, y)
    assert graphed.rows_after == [0] and not graphed.pending


def test_static_buffers_are_reused_and_a_new_shape_starts_over():
    """The minibatch goes into the same buffers each update; another minibatch size warms up
    and records again, still equal to the eager step."""
    eager = LeanSGD(stack(), [0.1] * 3, "nll", defer=3)
    graphed = GraphedSGD(LeanSGD(stack(), [0.1] * 3, "nll", defer=3), capture=False, warmup=2)
    first = minibatches(8)
    for x, y in first:
        eager.step(x, y)
        graphed.step(x, y)
    buffer = graphed.static_x.data_ptr()
    assert graphed.replays is not None
    assert torch.equal(graphed.static_x, first[-1][0])
    for x, y in minibatches(8, batch=6, seed=1):
        value, _ = eager.step(x, y)
        g_value, _ = graphed.step(x, y)
        assert torch.equal(value, g_value)
    assert graphed.static_x.shape == (3, 6, INPUTS) and graphed.static_x.data_ptr() != buffer
    assert graphed.rows_after == [6, 12, 0]
    eager.sync()
    graphed.sync()
    assert all(map(torch.equal, weights(eager), weights(graphed.lean)))


def test_warmup_must_be_positive_and_capture_needs_cuda():
    lean = LeanSGD(stack(), [0.1] * 3, "nll")
    with pytest.raises(ValueError, match="warmup must be >= 1"):
        GraphedSGD(lean, capture=False, warmup=0)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA graphs need a CUDA device"):
            GraphedSGD(lean, capture=True)
        assert GraphedSGD(lean).capture is False  # chosen by the device


def cfg_with(*overrides):
    return compose_config(["scale=smoke", *overrides])


def test_maybe_graphed_switch():
    cpu = torch.device("cpu")
    lean = LeanSGD(stack(), [0.1] * 3, "nll")
    for mode in ("auto", "off"):
        assert maybe_graphed(lean, cfg_with(f"train.cuda_graphs={mode}").train, cpu) is lean
    with pytest.raises(ConfigError, match="train.cuda_graphs=on needs a CUDA device"):
        maybe_graphed(lean, cfg_with("train.cuda_graphs=on").train, cpu)
    autograd = AutogradSGD(stack(k=1)[0], 0.1, "nll")
    assert maybe_graphed(autograd, cfg_with("train.cuda_graphs=auto").train, cpu) is autograd
    with pytest.raises(ConfigError, match="use train.step=lean"):
        maybe_graphed(autograd, cfg_with("train.cuda_graphs=on", "train.step=autograd").train, cpu)


def test_cuda_graphs_key_is_validated():
    with pytest.raises(ConfigError, match="train.cuda_graphs='maybe' is not valid; choose one "
                                          "of: auto, on, off"):
        validate(cfg_with("train.cuda_graphs=maybe"))


@pytest.mark.e2e
def test_trainer_with_the_static_buffer_step_gives_the_same_run(run_smoke, tmp_path, monkeypatch):
    """train.py's loop around the wrapper (outputs in reused buffers, syncs before evaluations
    and checkpoints, stacked replicas, deferred layers) ends where the plain lean step ends."""
    overrides = ("model.width=256", "train.defer=4", "train.replicas.lrs=[0.03,0.1]")
    plain, _ = run_smoke(*overrides, run_dir=tmp_path / "plain")
    used = []

    def uncaptured(sgd, tc, device):
        used.append(GraphedSGD(sgd, capture=False))
        return used[-1]

    monkeypatch.setattr(step, "maybe_graphed", uncaptured)
    wrapped, _ = run_smoke(*overrides, run_dir=tmp_path / "wrapped")
    assert used and used[0].replays is not None and len(used[0].replays) == 4
    assert [comparable(s) for s in wrapped["replicas"]] == \
        [comparable(s) for s in plain["replicas"]]


# ---- with a CUDA device only ----

def trained(graphed: bool, device, dtype, defer, updates=40):
    lean = LeanSGD(stack(dtype=dtype, device=device), [0.1, 0.03, 0.3], "nll", defer=defer)
    sgd = GraphedSGD(lean, capture=True, strict=True) if graphed else lean
    values = []
    for x, y in minibatches(updates, dtype=dtype):
        values.append(sgd.step(x.to(device), y.to(device))[0].clone())
    sgd.sync()
    return sgd, [w.cpu() for w in weights(lean)], torch.stack(values).cpu()


@pytest.mark.cuda
@pytest.mark.parametrize("defer", [1, 3])
def test_captured_replays_equal_eager_cuda_steps_and_the_cpu(defer):
    cuda = torch.device("cuda")
    sgd, graphed_w, graphed_v = trained(True, cuda, torch.float64, defer)
    assert sgd.captured and len(sgd.graphs) == defer
    _, eager_w, eager_v = trained(False, cuda, torch.float64, defer)
    _, cpu_w, cpu_v = trained(False, torch.device("cpu"), torch.float64, defer)
    assert all(map(torch.equal, graphed_w, eager_w)) and torch.equal(graphed_v, eager_v)
    for a, b in zip(graphed_w, cpu_w):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(graphed_v, cpu_v, rtol=1e-10, atol=1e-12)


@pytest.mark.cuda
@pytest.mark.e2e
def test_trainer_captures_on_cuda_and_matches_eager(run_smoke, tmp_path, caplog):
    overrides = ("device=cuda", "model.width=256", "train.replicas.lrs=[0.03,0.1]")
    with caplog.at_level(logging.INFO, logger="glorot_repro.training.fast.graphs"):
        on, _ = run_smoke(*overrides, "train.cuda_graphs=on", run_dir=tmp_path / "on")
    assert "CUDA graphs: on" in caplog.text
    off, _ = run_smoke(*overrides, "train.cuda_graphs=off", run_dir=tmp_path / "off")
    assert [comparable(s) for s in on["replicas"]] == [comparable(s) for s in off["replicas"]]


@pytest.mark.cuda
def test_capture_moves_no_weight():
    """Capturing records the step without running it: the weights move only on replays."""
    cuda = torch.device("cuda")
    lean = LeanSGD(stack(device=cuda), [0.1] * 3, "nll", defer=3)
    sgd = GraphedSGD(lean, capture=True, strict=True, warmup=1)
    (x, y), (x2, y2) = minibatches(2)
    sgd.step(x.to(cuda), y.to(cuda))  # eager
    sgd.sync()
    before = copy.deepcopy(weights(lean))
    sgd._record()
    assert all(map(torch.equal, before, weights(lean)))


def test_cuda_branch_with_a_stand_in_for_cuda(monkeypatch):
    """The capture path itself (streams, capture, replays into the captured outputs, the rows
    check) on a CPU: torch.cuda's stream and graph calls are replaced by fakes that behave as
    CUDA's do. Capturing runs the step and then undoes it (a capture runs nothing); a replay
    runs the phase's step again and writes its results into the captured outputs."""
    lean = LeanSGD(stack(), [0.1, 0.03, 0.3], "nll", defer=3)
    calls = []

    def state():
        return lean.weights + lean.biases + [t for t in lean.pending_d + lean.pending_z
                                             if t is not None]

    class FakeStream:
        def wait_stream(self, other):
            calls.append("wait_stream")

    class FakeGraph:
        made = []

        def __init__(self):
            self.phase = len(FakeGraph.made)
            FakeGraph.made.append(self)

        def replay(self):
            captured = graphed.graphs[self.phase][1]
            for out, new in zip(captured, graphed._phase(self.phase)):
                out.copy_(new)

    @contextlib.contextmanager
    def fake_capture(graph, pool=None, stream=None, **kwargs):
        assert stream is graphed.stream
        before = [t.clone() for t in state()]
        yield
        for t, b in zip(state(), before):
            t.copy_(b)

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "Stream", lambda device=None: FakeStream())
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: FakeStream())
    monkeypatch.setattr(torch.cuda, "stream", lambda s: contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, "CUDAGraph", FakeGraph)
    monkeypatch.setattr(torch.cuda, "graph", fake_capture)
    monkeypatch.setattr(torch.Tensor, "record_stream", lambda self, s: calls.append("record"))
    monkeypatch.setattr(graphs, "can_capture", lambda device: True)

    graphed = GraphedSGD(lean, strict=True)
    eager = LeanSGD(stack(), [0.1, 0.03, 0.3], "nll", defer=3)
    assert graphed.capture
    outputs = {}
    for u, (x, y) in enumerate(minibatches(30)):
        phase = graphed.lean.rows // BATCH
        value, logits = graphed.step(x, y)
        e_value, e_logits = eager.step(x, y)
        assert torch.equal(value, e_value) and torch.equal(logits, e_logits)
        if graphed.captured:  # a phase's outputs are the same tensors at every replay
            assert outputs.setdefault(phase, value) is value
        if u == 13:
            graphed.sync()
            eager.sync()
    assert len(graphed.graphs) == 3 and graphed.eager_steps == 4
    assert calls.count("wait_stream") == 2 * 4 and calls.count("record") == 2 * 4
    graphed.sync()
    eager.sync()
    assert all(map(torch.equal, weights(eager), weights(lean)))
