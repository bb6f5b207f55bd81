import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tbparse import SummaryReader

from glorot_repro.compose import compose_config
from glorot_repro.data.streams import ShapesetStream
from glorot_repro.train import train

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def lean_kernel():
    """The lean step's compiled kernel, built (or loaded) before any test runs: on a fresh machine
    the build takes a minute or two, which must not fall inside a subprocess test's timeout."""
    from glorot_repro import kernels
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


def entry_point(*args, cwd, timeout=300):
    return subprocess.run([sys.executable, "-m", "glorot_repro.train", *args], cwd=cwd,
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
