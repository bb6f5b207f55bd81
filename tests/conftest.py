import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from tbparse import SummaryReader

from glorot_repro.command.compose import compose_config
from glorot_repro.data.streams import ShapesetStream
from glorot_repro.rundir.checkpoint import CHECKPOINT, PREVIOUS, temp_path
from glorot_repro.train import train

REPO = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(items):
    """Tests marked `cuda` skip, with one reason, on a machine without a CUDA device."""
    import torch

    if torch.cuda.is_available():
        return
    no_cuda = pytest.mark.skip(reason="needs a CUDA device (none on this machine)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(no_cuda)


@pytest.fixture(scope="session", autouse=True)
def lean_kernel():
    """The lean step's compiled kernel, built (or loaded) before any test runs: on a fresh machine
    the build takes a minute or two, which must not fall inside a subprocess test's timeout."""
    from glorot_repro.training.fast import kernels
    kernels.load()


@pytest.fixture
def run_smoke(tmp_path):
    """Train at scale=smoke in-process; returns (summary, run_dir)."""

    def run(*overrides: str, run_dir: Path | None = None):
        cfg = compose_config(["scale=smoke", "device=cpu", *overrides])
        run_dir = run_dir or tmp_path / "run"
        return train(cfg, run_dir), run_dir

    return run


def read_summary(run_dir: Path) -> dict:
    return json.loads((Path(run_dir) / "summary.json").read_text())


def scalars(run_dir) -> dict[str, list[tuple[int, float]]]:
    """Every scalar series of a run dir (its subdirs too), as tag -> [(step, value)]."""
    df = SummaryReader(str(run_dir)).scalars
    return {tag: list(zip(g.step, g.value)) for tag, g in df.groupby("tag")}


def mlp_by_hand(twin, x, y, f1, f2):
    """Sequential(Linear, f1, Linear, f2, Linear)'s forward and backward (mean cross-entropy)
    written out: [(s^l, z^l, the Linear giving s^l)] for l = 1, 2, with s^l's gradient kept."""
    s1 = twin[0](x)
    z1 = f1(s1)
    s2 = twin[2](z1)
    z2 = f2(s2)
    for s in (s1, s2):
        s.retain_grad()
    torch.nn.functional.cross_entropy(twin[4](z2), y).backward()
    return [(s1, z1, twin[0]), (s2, z2, twin[2])]


def entry_point(*args, cwd, timeout=300, env=None):
    """The real command, with `env` added to the environment."""
    return subprocess.run([sys.executable, "-m", "glorot_repro.train", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def faulty_entry_point(fault: str, *args, cwd, timeout=300):
    """The real command in a process that first runs `fault`, Python code that breaks something
    under it (a full disk, a file that cannot be cut), as tests/test_reliability*.py inject them."""
    main = "\nimport sys\nsys.argv = ['glorot_repro.train', *sys.argv[1:]]\n" \
           "from glorot_repro.train import main\nmain()\n"
    return subprocess.run([sys.executable, "-c", fault + main, *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def crash_at(monkeypatch, n_calls, action, transform=None):
    """Run `action` when the n-th training minibatch is drawn (i.e. during update n); optionally
    `transform` every minibatch from then on."""
    calls = {"n": 0}
    real_next_batch = ShapesetStream.next_batch

    def next_batch(self, n):
        calls["n"] += 1
        if calls["n"] == n_calls:
            action()
        x, y = real_next_batch(self, n)
        return (transform(x), y) if transform and calls["n"] >= n_calls else (x, y)

    monkeypatch.setattr(ShapesetStream, "next_batch", next_batch)


def comparable(summary: dict) -> dict:
    """A summary without its timings, which differ between any two runs, and the commit it ran
    at (a commit landing between two runs is not a difference in results)."""
    return {k: v for k, v in summary.items() if k not in ("seconds", "examples_per_second", "git")}


def write_idx(path: Path, array: np.ndarray) -> None:
    magic = 0x0800 + array.ndim
    path.write_bytes(struct.pack(f">{1 + array.ndim}I", magic, *array.shape)
                     + array.astype(np.uint8).tobytes())


def fake_mnist(root: Path, n_train: int = 600, n_test: int = 100) -> Path:
    """A small MNIST tree in the real IDX format under root/MNIST/raw; returns that folder."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for part, n in (("train", n_train), ("t10k", n_test)):
        write_idx(raw / f"{part}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        write_idx(raw / f"{part}-labels-idx1-ubyte", np.arange(n) % 10)
    return raw


# Training subprocesses paused at a hook, to be killed or signalled there (test_reliability*.py).
# Checkpoints at 20, 40, 60: on evaluation, probe and histogram steps, whose events a resumed run
# must keep (it does not log them again).
ARGS = ("scale=smoke", "device=cpu", "train.checkpoint_every=20")

# `python -c PAUSING_TRAIN <marker> <hook> <n> <train args>`: the real entry point, made to stop at
# the n-th time it reaches `hook` and write <marker>; it goes on once the test deletes <marker>
# (or never, when the test kills it).
PAUSING_TRAIN = f"""
import os, sys, time
from pathlib import Path

marker, hook, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
calls = 0


def reached():
    global calls
    calls += 1
    return calls == n


def pause():
    marker.write_text("paused")
    while marker.exists():
        time.sleep(0.01)


# The stop handler leaves <marker>.signalled once it has run, for the test to wait on.
from glorot_repro.rundir.stop import StopRequest
handle = StopRequest._handle


def acknowledged_handle(self, signum, frame):
    handle(self, signum, frame)
    Path(str(marker) + ".signalled").write_text(str(signum))


StopRequest._handle = acknowledged_handle

if hook == "update":  # inside update n, before its minibatch is drawn
    from glorot_repro.data.streams import ShapesetStream
    next_batch = ShapesetStream.next_batch

    def paused_next_batch(self, k):
        if reached():
            pause()
        return next_batch(self, k)

    ShapesetStream.next_batch = paused_next_batch
elif hook == "checkpoint_write":  # the new checkpoint half written, not yet renamed into place
    fsync = os.fsync

    def paused_fsync(fd):
        if os.readlink(f"/proc/self/fd/{{fd}}").endswith("{temp_path(Path(CHECKPOINT)).name}") and reached():
            os.ftruncate(fd, os.fstat(fd).st_size // 2)
            pause()
        fsync(fd)

    os.fsync = paused_fsync
elif hook == "checkpoint_rename":  # the old checkpoint moved to {PREVIOUS}, the new one not in place
    replace = os.replace

    def paused_replace(src, dst):
        if Path(dst).name == "{CHECKPOINT}" and reached():
            pause()
        replace(src, dst)

    os.replace = paused_replace

sys.argv = ["glorot_repro.train", *sys.argv[4:]]
from glorot_repro.train import main
main()
"""


class Paused:
    """A training subprocess stopped at a hook, for the test to signal."""

    def __init__(self, tmp_path: Path, run_dir: Path, hook: str, n: int,
                 args: tuple[str, ...] = ARGS):
        self.marker = tmp_path / f"paused_{hook}_{n}"
        self.output = tmp_path / f"output_{hook}_{n}.txt"
        where = f"hydra.sweep.dir={run_dir}" if "-m" in args else f"hydra.run.dir={run_dir}"
        with open(self.output, "w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", PAUSING_TRAIN, str(self.marker), hook, str(n), *args,
                 where], cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.time() + 120
        while not self.marker.exists():
            if self.proc.poll() is not None or time.time() > deadline:
                self.proc.kill()
                pytest.fail(f"the run did not reach {hook} #{n}:\n{self.output.read_text()[-3000:]}")
            time.sleep(0.02)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        assert self.proc.wait(timeout=60) == -signal.SIGKILL

    def stop_and_go_on(self, signum: int = signal.SIGTERM) -> tuple[int, str]:
        """SIGTERM (or signum), then, once its handler has run in the paused loop, let the run
        continue; returns its exit status and output."""
        signalled = Path(str(self.marker) + ".signalled")
        self.proc.send_signal(signum)
        deadline = time.time() + 60
        while not signalled.exists():
            if self.proc.poll() is not None or time.time() > deadline:
                pytest.fail(f"the stop handler did not run:\n{self.output.read_text()[-3000:]}")
            time.sleep(0.01)
        self.marker.unlink()
        return self.proc.wait(timeout=120), self.output.read_text()


@pytest.fixture
def paused(tmp_path):
    started = []

    def start(run_dir, hook, n, args=ARGS):
        started.append(Paused(tmp_path, run_dir, hook, n, args))
        return started[-1]

    yield start
    for p in started:  # a failing test leaves no process behind
        if p.proc.poll() is None:
            p.proc.kill()
            p.proc.wait()


def histograms(run_dir) -> dict[str, list]:
    """tag -> [(step, bucket counts)] for every histogram of a run dir."""
    df = SummaryReader(str(run_dir)).histograms
    return {tag: [(s, list(c)) for s, c in zip(g.step, g.counts)] for tag, g in df.groupby("tag")}


def one_line_error(res, *needles: str) -> None:
    """A command that failed as bad input must: exit 2, one 'error: ' line on stderr and nothing
    else there, holding each needle."""
    out = res.stdout + res.stderr
    assert res.returncode == 2, out[-3000:]
    assert "Traceback" not in out and "Logging error" not in out
    errors = res.stderr.splitlines()
    assert len(errors) == 1 and errors[0].startswith("error: "), out[-3000:]
    assert "error: " not in res.stdout, out[-3000:]
    for needle in needles:
        assert needle in errors[0]
