"""Paper artefacts end to end at scale=smoke: experiment configs compose, runs are collected
into tidy tables from their event files, figures are drawn as PNG and PDF."""
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir

from glorot_repro.collect import collect_histograms, collect_scalars
from glorot_repro.compose import compose_config
from glorot_repro.config import CONF_DIR, register_configs

from conftest import REPO, fake_mnist

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


# Each set of runs and the artefacts drawn from them (scripts/reproduce.py's ARTEFACTS), in an
# order where the first artefact trains the runs and the others reuse them (or train their own).
RUN_SETS = {"fig02": ["fig02"], "fig06": ["fig06", "fig07", "fig08"],
            "fig11": ["fig11", "fig03", "fig04", "fig09", "fig10"],
            "table1": ["table1", "fig12", "beyond_table", "beyond_curves"]}
EXPERIMENTS_TRAINED = {"table1": ["beyond_smoke", "table1_smoke"]}


def outputs(out, artefact):
    if "table" in artefact:
        return [out / "tables" / f"{artefact}.{ext}" for ext in ("md", "csv")]
    return [out / "figures" / f"{artefact}.{ext}" for ext in ("png", "pdf")]


@pytest.mark.parametrize("first", sorted(RUN_SETS))
def test_artefacts_end_to_end_at_smoke_scale(tmp_path, first):
    # Table 1's MNIST column (and Fig. 12) on a small MNIST tree in the real IDX format.
    overrides = [f"dataset.root={fake_mnist(tmp_path / 'data').parent.parent}",
                 "train.replicas.seeds=[0,1]", "train.replicas.lrs=[0.01,0.1]"
                 ] if first == "table1" else []
    for i, artefact in enumerate(RUN_SETS[first]):
        out = reproduce(artefact, "--scale", "smoke", "--out", "out", *overrides, cwd=tmp_path)
        assert ("running:" if i == 0 else "reusing") in out
        for path in outputs(tmp_path / "out", artefact):
            assert path.stat().st_size > 300
    trained = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert trained == EXPERIMENTS_TRAINED.get(first, [f"{first}_smoke"])


def test_collected_tables_carry_the_run_configs(tmp_path):
    runs = tmp_path / "runs"
    reproduce("fig06", "--scale", "smoke", "--runs", str(runs), "--out", "figs", cwd=tmp_path)
    scalars = collect_scalars(runs)
    assert set(scalars.init) == {"standard", "normalized"} and set(scalars.step) == {0}
    assert set(scalars.activation) == {"tanh"} and set(scalars.depth) == {5}
    hist = collect_histograms(runs)
    assert {"act/layer1", "grad/layer5", "wgrad/layer6"} <= set(hist.tag)


@pytest.mark.parametrize("artefact", ["fig01", "fig05"])
def test_artefacts_without_runs(tmp_path, artefact):
    reproduce(artefact, "--out", "out", cwd=tmp_path)
    assert all(p.exists() for p in outputs(tmp_path / "out", artefact))
    assert not (tmp_path / "runs").exists()


def test_collect_without_runs_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="no TensorBoard event files"):
        collect_scalars(tmp_path)


@pytest.mark.parametrize("launcher,target", [
    ("joblib", "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"),
    ("submitit_slurm", "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher")])
def test_sweep_launchers_compose(launcher, target):
    # The README's sweep commands: local processes (extra `joblib`), SLURM (extra `slurm`).
    register_configs()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("config", [f"hydra/launcher={launcher}", "experiment=table1"],
                      return_hydra_config=True)
    assert cfg.hydra.launcher._target_ == target
    assert cfg.hydra.sweeper.params.dataset == "shapeset,mnist"
