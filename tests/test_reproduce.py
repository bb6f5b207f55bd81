"""Paper artefacts end to end at scale=smoke: experiment configs compose, runs are collected
into tidy tables from their event files, figures are drawn as PNG and PDF."""
import subprocess
import sys

import pytest

from glorot_repro.collect import collect_histograms, collect_scalars
from glorot_repro.compose import compose_config

from conftest import REPO

EXPERIMENTS = sorted(p.stem for p in (REPO / "conf" / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_config_composes_at_every_scale(name):
    for scale in ("smoke", "cpu", "paper"):
        cfg = compose_config([f"experiment={name}", f"scale={scale}"])
        assert cfg.model.depth >= 1


def reproduce(*args, cwd):
    res = subprocess.run([sys.executable, str(REPO / "scripts" / "reproduce.py"), *args],
                         cwd=cwd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout


# Each experiment's runs and the artefacts drawn from them (scripts/reproduce.py's ARTEFACTS).
RUN_SETS = {"fig02": ["fig02"], "fig06": ["fig06", "fig07", "fig08"],
            "fig11": ["fig11", "fig03", "fig04", "fig09", "fig10"]}


@pytest.mark.parametrize("experiment", sorted(RUN_SETS))
def test_artefacts_end_to_end_at_smoke_scale(tmp_path, experiment):
    first, *others = RUN_SETS[experiment]
    assert "running:" in reproduce(first, "--scale", "smoke", "--out", "figs", cwd=tmp_path)
    for artefact in others:  # the same runs, found in runs/<experiment>_smoke
        assert "reusing" in reproduce(artefact, "--scale", "smoke", "--out", "figs", cwd=tmp_path)
    for artefact in RUN_SETS[experiment]:
        for ext in ("png", "pdf"):
            assert (tmp_path / "figs" / f"{artefact}.{ext}").stat().st_size > 1000
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [f"{experiment}_smoke"]


def test_collected_tables_carry_the_run_configs(tmp_path):
    runs = tmp_path / "runs"
    reproduce("fig06", "--scale", "smoke", "--runs", str(runs), "--out", "figs", cwd=tmp_path)
    scalars = collect_scalars(runs)
    assert set(scalars.init) == {"standard", "normalized"} and set(scalars.step) == {0}
    assert set(scalars.activation) == {"tanh"} and set(scalars.depth) == {5}
    hist = collect_histograms(runs)
    assert {"act/layer1", "grad/layer5", "wgrad/layer6"} <= set(hist.tag)


def test_fig01_needs_no_runs(tmp_path):
    reproduce("fig01", "--out", "figs", cwd=tmp_path)
    assert (tmp_path / "figs" / "fig01.png").exists() and not (tmp_path / "runs").exists()


def test_collect_without_runs_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="no TensorBoard event files"):
        collect_scalars(tmp_path)
