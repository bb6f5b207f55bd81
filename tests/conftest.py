import json
from pathlib import Path

import pytest

from glorot_repro.compose import compose_config
from glorot_repro.train import train

REPO = Path(__file__).resolve().parents[1]


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
