"""Long runs: resident memory stays flat, and event files grow with the logged steps only."""
import os
from pathlib import Path

import pytest

from glorot_repro.command.compose import compose_config
from glorot_repro.train import train
from glorot_repro.training.run import Run

EVENTS = "events.out.tfevents.*"


def event_bytes(run_dir: Path) -> int:
    return sum(p.stat().st_size for p in run_dir.glob(EVENTS))


def _run(tmp_path: Path, name: str, updates: int, every: int) -> int:
    """Event bytes of a smoke run with the default cadence's proportions (probes and evaluations
    every `every` updates, histograms every 5 x `every`), scaled down."""
    cfg = compose_config(["scale=smoke", "device=cpu", f"train.updates={updates}",
                          f"train.eval_every={every}", f"log.every={every}",
                          f"log.histograms={5 * every}", f"train.checkpoint_every={updates}"])
    train(cfg, tmp_path / name)
    return event_bytes(tmp_path / name)


@pytest.mark.e2e
def test_event_files_grow_with_logged_steps_not_with_updates(tmp_path):
    base = _run(tmp_path, "base", updates=200, every=20)
    same_points = _run(tmp_path, "twice_the_updates", updates=400, every=40)
    twice_the_points = _run(tmp_path, "twice_the_points", updates=400, every=20)
    assert same_points == pytest.approx(base, rel=0.01)
    assert 1.6 < twice_the_points / base < 2.0  # 2x the steps, less the one-off header and step 0
    # `base` is the default cadence (probes and evaluations every 1000 updates, histograms every
    # 5000) scaled down 50x, so 200 of its updates stand for 10k at the default cadence.
    per_million = (twice_the_points - base) * 1_000_000 / 10_000
    print(f"\nevent files: {base} B for 11 logged steps; about {per_million / 1e6:.1f} MB per 1M "
          f"updates at the default cadence (depth 5)")


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def _slope(points: list[tuple[int, int]]) -> float:
    """Least-squares slope of y over x."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    return (sum((x - mx) * (y - my) for x, y in points)
            / sum((x - mx) ** 2 for x, _ in points))


@pytest.mark.slow
@pytest.mark.e2e
def test_resident_memory_is_flat_over_a_long_run(tmp_path, monkeypatch):
    """200k updates (GLOROT_LONG_RUN_UPDATES to change it) of a small net with probes every
    updates/400 and histograms and evaluations every updates/200; RSS is sampled at each
    evaluation. Over the second half it must grow by less than 1 MB per 100k updates."""
    updates = int(os.environ.get("GLOROT_LONG_RUN_UPDATES", 200_000))
    every = max(updates // 200, 2)
    samples = []
    evaluate = Run.evaluate

    def sampled(self, u, valid, test):
        samples.append((u, _rss_bytes()))
        return evaluate(self, u, valid, test)

    monkeypatch.setattr(Run, "evaluate", sampled)
    cfg = compose_config(["scale=smoke", "device=cpu", "model.width=32", "model.depth=5",
                          f"train.updates={updates}", f"train.eval_every={every}",
                          f"log.every={every // 2}", f"log.histograms={every}",
                          f"train.checkpoint_every={updates // 10 or 1}"])
    summary = train(cfg, tmp_path / "run")
    assert summary["status"] == "completed"
    second_half = [(u, rss) for u, rss in samples if u >= updates // 2]
    mb_per_100k = _slope(second_half) * 100_000 / 2**20
    print(f"\nRSS {samples[0][1] / 2**20:.0f} MB at update 0, {samples[-1][1] / 2**20:.0f} MB at "
          f"{updates}; second-half slope {mb_per_100k:+.3f} MB per 100k updates; event files "
          f"{event_bytes(tmp_path / 'run') / 2**20:.1f} MB; {summary['seconds']:.0f} s")
    assert mb_per_100k < 1.0
