"""scripts/bench.py's modes and flags, at a tiny net and a few updates (its numbers are
meaningless here: only that every mode runs and reports)."""
import json
import subprocess
import sys

import pytest

from conftest import REPO

pytestmark = pytest.mark.e2e  # each test runs the bench as a command


def bench(*args, tmp_path):
    """The bench as a command at a tiny size. The timeout is a hang guard only: a mode that names
    a kernel build not yet on the machine (lean-avx2) compiles it first, minutes on a busy CPU."""
    out = tmp_path / "rates.json"
    res = subprocess.run([sys.executable, str(REPO / "scripts" / "bench.py"), "--width", "16",
                          "--depth", "2", "--updates", "3", "--repeats", "1",
                          "--shapeset-images", "0", "--json-out", str(out), *args],
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout, json.loads(out.read_text())


def test_graphed_mixed_and_table1_modes_run_with_and_without_graphs(tmp_path):
    stdout, rates = bench("--modes", "plain,lean,replicas,mixed,table1", "--replicas", "4",
                          "--cuda-graphs", "both", tmp_path=tmp_path)
    assert set(rates) == {"plain", "lean", "lean+graphs", "replicas", "replicas+graphs",
                          "mixed", "mixed+graphs", "table1", "table1+graphs"}
    assert all(r > 0 for r in rates.values())
    for label in ("replicas (K=4)+graphs", "mixed (K=4: 2 std + 2 norm)",
                  "table1 (K=9, Shapeset)+graphs", "CUDA graphs against the same mode without",
                  "the static-buffer step, uncaptured"):
        assert label in stdout


def test_the_kernels_builds_and_torchs_products_run_side_by_side(tmp_path):
    from glorot_repro.training.fast import kernels

    stdout, rates = bench("--modes", "plain,lean,lean-torch,lean-avx2,replicas,replicas-avx2",
                          "--replicas", "2", tmp_path=tmp_path)
    assert set(rates) == {"plain", "lean", "lean-torch", "lean-avx2", "replicas", "replicas-avx2"}
    assert "the compiled kernel makes lean" in stdout
    if kernels.load("avx512") is not None:
        assert "compiled kernel loaded (avx512)" in stdout
        assert "the kernel's avx512 build makes replicas" in stdout


def test_graphs_default_off_on_a_cpu(tmp_path):
    stdout, rates = bench("--modes", "plain,replicas", "--replicas", "2", tmp_path=tmp_path)
    assert set(rates) == {"plain", "replicas"} and "CUDA graphs off" in stdout


def test_update_flops_match_torchs_count_of_a_plain_update():
    """The ceiling's FLOP count against torch's own FlopCounterMode over the plain loop's forward
    and backward (its inputs need no gradient, as in training)."""
    import importlib.util

    import torch
    from torch.utils.flop_counter import FlopCounterMode
    spec = importlib.util.spec_from_file_location("bench", REPO / "scripts" / "bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for width, depth in ((16, 2), (40, 5)):
        x = torch.rand(module.BATCH, module.INPUTS)
        with FlopCounterMode(display=False) as counter:
            module.plain_net(width, depth)(x).sum().backward()
        assert module.update_flops(width, depth) == counter.get_total_flops()


def test_bench_states_the_arithmetic_ceiling(tmp_path):
    stdout, _ = bench("--modes", "plain,lean", tmp_path=tmp_path)
    assert "ceiling:" in stdout and "3x plain would need" in stdout


def test_watch_models_reports_every_cadence_against_plain(tmp_path):
    out = tmp_path / "watch.json"
    res = subprocess.run([sys.executable, str(REPO / "scripts" / "bench.py"), "--watch-models",
                          "transformer", "--watch-steps", "1", "--repeats", "1", "--json-out",
                          str(out)], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    modes = json.loads(out.read_text())["transformer"]
    assert set(modes) == {"plain", "every=1", "every=10", "every=100", "parts"}
    assert modes["plain"]["ratio_total"] == 1.0
    assert all(m["ms_per_step"] > 0 for k, m in modes.items() if k != "parts")
    assert "a logging step's parts" in res.stdout and "x1.00 plain" in res.stdout


def test_trainer_modes_time_train_itself_with_a_breakdown(tmp_path):
    """train() on Shapeset and on MNIST (a small tree in the real format) beside the plain loop,
    each part of its time named, the parts adding up to the window."""
    from conftest import fake_mnist

    root = fake_mnist(tmp_path / "data").parent.parent
    stdout, rates = bench("--modes", "plain,trainer,trainer-mnist", "--dataset-root", str(root),
                          tmp_path=tmp_path)
    assert set(rates) == {"plain", "trainer", "trainer-mnist"}
    assert all(r > 0 for r in rates.values())
    for name in ("trainer", "trainer-mnist"):
        line = next(l for l in stdout.splitlines() if l.strip().startswith(f"{name}: setup"))
        shares = [float(part.split()[-1].rstrip("%"))
                  for part in line.split(": ", 2)[2].split(", ")]
        assert [part.split()[0] for part in line.split(": ", 2)[2].split(", ")] == [
            "step", "data", "evaluation", "probes", "histograms", "checkpoint", "rest"]
        assert abs(sum(shares) - 100) < 0.5 and all(s >= 0 for s in shares[:-1])
    assert stdout.count("projected over train.updates=200000") == 2
