"""The lean step's compiled kernel (glorot_repro/training/fast/kernels): each product equals torch's in float64,
the step on it repeats itself bit for bit, and where it cannot load the step falls back to torch's
products with one logged line."""
import copy
import logging

import pytest
import torch

from glorot_repro.nets.model import DeepMLP
from glorot_repro.training.fast import kernels
from glorot_repro.training.fast.lean import LeanSGD


@pytest.fixture(scope="module", params=list(kernels.ISA_FLAGS))
def isa(request):
    """Each build this CPU runs: the AVX2 one and, where the CPU has AVX-512, the wider one."""
    if kernels.load(request.param) is None:
        pytest.skip(f"the compiled kernel ({request.param}) does not load on this machine")
    return request.param


@pytest.fixture(scope="module")
def kernel(isa):
    return kernels.load(isa)


# (K, M, N, J): the step's shapes (minibatch rows against a 1000-wide layer, the rank-r writes of a
# weight matrix) and odd ones that leave every kind of tail (rows, vectors, lanes).
SHAPES = [(1, 10, 1000, 1024), (2, 10, 9, 1000), (1, 1000, 64, 30), (3, 4, 5, 20), (2, 7, 13, 33),
          (1, 1, 1, 1), (2, 17, 3, 5), (1, 12, 100, 3)]


@pytest.mark.parametrize("subtract", [False, True])
@pytest.mark.parametrize("accumulate", [False, True])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_products_equal_torch_in_float64(kernel, shape, accumulate, subtract):
    """nt: c (+)= +-a b^T; nn: c (+)= +-a b, with b's rows contiguous and a of any strides (a
    transposed view, as the step passes for delta^T)."""
    k, m, n, j = shape
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(k, m, j, dtype=torch.float64, generator=gen)
    b = torch.randn(k, n, j, dtype=torch.float64, generator=gen)
    c = torch.randn(k, m, n, dtype=torch.float64, generator=gen)
    product = torch.bmm(a, b.transpose(1, 2))
    expected = (c if accumulate else 0) + (-product if subtract else product)
    got = c.clone()
    kernel.nt(got, a, b, accumulate, subtract)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    b_rows = b.transpose(1, 2).contiguous()  # (K, J, N)
    for a_view in (a, a.transpose(1, 2).contiguous().transpose(1, 2)):
        got = c.clone()
        kernel.nn(got, a_view, b_rows, accumulate, subtract)
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_products_in_float32_within_rounding(kernel):
    gen = torch.Generator().manual_seed(1)
    a, b = torch.randn(2, 10, 1000, generator=gen), torch.randn(2, 300, 1000, generator=gen)
    expected = torch.bmm(a.double(), b.double().transpose(1, 2))
    got = torch.empty(2, 10, 300)
    kernel.nt(got, a, b, False, False)
    torch.testing.assert_close(got.double(), expected, rtol=1e-4, atol=1e-4)
    got = torch.empty(2, 10, 300)
    kernel.nn(got, a, b.transpose(1, 2).contiguous(), False, False)
    torch.testing.assert_close(got.double(), expected, rtol=1e-4, atol=1e-4)


def test_products_do_not_depend_on_the_number_of_threads(kernel):
    """Threads share out rows or columns of c, never a sum: bit-identical results."""
    gen = torch.Generator().manual_seed(2)
    a, b = torch.randn(3, 10, 200, generator=gen), torch.randn(3, 200, 300, generator=gen)
    w, d = torch.randn(3, 300, 200, generator=gen), torch.randn(3, 7, 300, generator=gen)
    threads = torch.get_num_threads()
    results = []
    try:
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            forward, below, written = torch.zeros(3, 10, 300), torch.zeros(3, 10, 300), w.clone()
            kernel.nt(forward, a, w, True, False)
            kernel.nn(below, a, b, False, False)
            kernel.nn(written, d.transpose(1, 2), torch.ones(3, 7, 200), True, True)
            results.append((forward, below, written))
    finally:
        torch.set_num_threads(threads)
    for other in results[1:]:
        assert all(torch.equal(x, y) for x, y in zip(results[0], other))


def test_products_bump_the_version_of_what_they_write(kernel):
    """Like torch's in-place ops, so autograd notices a weight changed under a saved tensor."""
    c, a, b = torch.zeros(1, 2, 3), torch.ones(1, 2, 4), torch.ones(1, 3, 4)
    before = c._version
    kernel.nt(c, a, b, True, False)
    assert c._version > before


def test_products_refuse_what_they_cannot_read(kernel):
    a, b = torch.ones(1, 2, 4), torch.ones(1, 3, 4)
    with pytest.raises(RuntimeError, match="shapes"):
        kernel.nt(torch.zeros(1, 2, 4), a, b, False, False)
    with pytest.raises(RuntimeError, match="contiguous"):
        kernel.nt(torch.zeros(1, 2, 3), a, torch.ones(1, 4, 3).transpose(1, 2), False, False)


def stacked_run(models, lrs, isa, updates=30, seed=0):
    sgd = LeanSGD(models, lrs, "nll", defer=3, kernel=isa)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(updates):
        x = torch.rand(len(models), 4, 20, generator=gen)
        y = torch.randint(0, 5, (len(models), 4), generator=gen)
        sgd.step(x, y)
    sgd.sync()
    return sgd


def test_kernel_step_repeats_itself_and_a_stack_equals_models_alone_bit_for_bit(isa):
    """A fixed order of summation per element, and each stacked model summed as if alone: the
    ground for a killed and resumed stack ending bit-identical."""
    def nets():
        out = []
        for seed in range(3):
            torch.manual_seed(seed)
            out.append(DeepMLP(20, 5, depth=3, width=64, activation="tanh", init="normalized"))
        return out

    lrs = [0.1, 0.03, 0.3]
    first, second = nets(), nets()
    alone = [copy.deepcopy(m) for m in first]
    assert stacked_run(first, lrs, isa).kernel is kernels.load(isa)
    stacked_run(second, lrs, isa)
    gen = torch.Generator().manual_seed(0)
    batches = [(torch.rand(3, 4, 20, generator=gen), torch.randint(0, 5, (3, 4), generator=gen))
               for _ in range(30)]
    singles = [LeanSGD([m], [lr], "nll", defer=3, kernel=isa) for m, lr in zip(alone, lrs)]
    for x, y in batches:
        for i, single in enumerate(singles):
            single.step(x[i:i + 1], y[i:i + 1])
    for single in singles:
        single.sync()
    for a, b, c in zip(first, second, alone):
        for p, q, r in zip(a.parameters(), b.parameters(), c.parameters()):
            assert torch.equal(p, q)
            assert torch.equal(p, r)


@pytest.fixture
def fresh_loader(monkeypatch):
    """kernels.load() as in a new process: nothing tried yet."""
    monkeypatch.setattr(kernels, "_tried", {})


def kernel_records(caplog):
    return [r for r in caplog.records if r.name == "glorot_repro.training.fast.kernels"]


def test_disabled_kernel_falls_back_to_torch_with_one_log_line(fresh_loader, monkeypatch, caplog):
    monkeypatch.setenv(kernels.DISABLE_VAR, "1")
    caplog.set_level(logging.INFO, logger="glorot_repro.training.fast.kernels")
    models = [DeepMLP(20, 5, depth=2, width=16, activation="tanh", init="normalized")]
    first = LeanSGD(models, [0.1], "nll", defer=3)
    second = LeanSGD(copy.deepcopy(models), [0.1], "nll")
    assert first.kernel is None and second.kernel is None
    records = kernel_records(caplog)
    assert len(records) == 1
    assert kernels.DISABLE_VAR in records[0].getMessage()
    assert "PyTorch path" in records[0].getMessage()
    first.step(torch.rand(1, 4, 20), torch.randint(0, 5, (1, 4)))  # the torch path runs


def test_a_failed_build_falls_back_to_torch_with_one_warning(fresh_loader, monkeypatch, caplog):
    monkeypatch.delenv(kernels.DISABLE_VAR, raising=False)

    def no_compiler(isa):
        raise RuntimeError("Error building extension 'glorot_lean_kernels'\nc++: not found")

    monkeypatch.setattr(kernels, "_build", no_compiler)
    caplog.set_level(logging.INFO, logger="glorot_repro.training.fast.kernels")
    assert kernels.load() is None
    assert kernels.load() is None
    records = kernel_records(caplog)
    assert len(records) == 1 and records[0].levelno == logging.WARNING
    assert "Error building extension" in records[0].getMessage()


def test_the_kernel_is_not_used_off_its_dtypes(kernel):
    """float16/bfloat16 (no kernel) take torch's products."""
    model = DeepMLP(20, 5, depth=2, width=16, activation="tanh", init="normalized")
    model = model.to(torch.bfloat16)
    assert LeanSGD([model], [0.1], "nll").kernel is None


@pytest.mark.parametrize("capability, widest", [("AVX512", "avx512"), ("AVX2", "avx2"),
                                                ("DEFAULT", "avx2")])
def test_the_default_build_is_the_widest_the_cpu_runs(monkeypatch, capability, widest):
    monkeypatch.delenv(kernels.ISA_VAR, raising=False)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    assert kernels.default_isa() == widest
    monkeypatch.setenv(kernels.ISA_VAR, "avx2")
    assert kernels.default_isa() == "avx2"


def test_a_build_the_cpu_cannot_run_is_refused_with_one_warning(fresh_loader, monkeypatch, caplog):
    monkeypatch.delenv(kernels.DISABLE_VAR, raising=False)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    caplog.set_level(logging.INFO, logger="glorot_repro.training.fast.kernels")
    assert kernels.load("avx512") is None
    monkeypatch.setenv(kernels.ISA_VAR, "sse2")
    assert kernels.load() is None
    records = kernel_records(caplog)
    assert [r.levelno for r in records] == [logging.WARNING, logging.WARNING]
    assert "avx512 needs AVX512" in records[0].getMessage()
    assert "GLOROT_KERNEL_ISA=sse2 is not one of avx2, avx512" in records[1].getMessage()
