"""Paper artefacts end to end at scale=smoke: experiment configs compose, runs are collected
into tidy tables from their event files, figures are drawn as PNG and PDF."""
import subprocess
import sys

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from glorot_repro.analysis.collect import collect_histograms, collect_scalars
from glorot_repro.analysis.figures.style import plt
from glorot_repro.analysis.table import records_markdown
from glorot_repro.command.compose import compose_config
from glorot_repro.command.compose import register_configs
from glorot_repro.command.validate import CONF_DIR, validate

from conftest import REPO, fake_mnist

EXPERIMENTS = sorted(p.stem for p in (REPO / "conf" / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_config_composes_at_every_scale(name):
    for scale in ("smoke", "cpu", "long", "horizon", "paper"):
        cfg = compose_config([f"experiment={name}", f"scale={scale}"])
        # Every key has a value (the scale sets those the schema leaves MISSING), and the trainer's
        # own checks accept it.
        OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
        validate(cfg)


def run_reproduce(*args, cwd):
    return subprocess.run([sys.executable, str(REPO / "scripts" / "reproduce.py"), *args],
                          cwd=cwd, capture_output=True, text=True, timeout=600)


def reproduce(*args, cwd):
    res = run_reproduce(*args, cwd=cwd)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout


# Each set of runs and the artefacts drawn from them (scripts/reproduce.py's ARTEFACTS), in an
# order where the first artefact trains the runs and the others reuse them (or train their own).
RUN_SETS = {"fig02": ["fig02"], "fig06": ["fig06", "fig07", "fig08"],
            "fig11": ["fig11", "fig03", "fig04", "fig09", "fig10"],
            "table1": ["table1", "fig12", "beyond_table", "beyond_curves"], "pilot": ["pilot"]}
EXPERIMENTS_TRAINED = {"table1": ["beyond_smoke", "table1_smoke"]}


def outputs(out, artefact):
    if "table" in artefact or artefact == "pilot":
        return [out / "tables" / f"{artefact}.{ext}" for ext in ("md", "csv")]
    return [out / "figures" / f"{artefact}.{ext}" for ext in ("png", "pdf")]


@pytest.mark.parametrize("first", sorted(RUN_SETS))
@pytest.mark.e2e
def test_artefacts_end_to_end_at_smoke_scale(tmp_path, first):
    # Table 1's MNIST column (and Fig. 12) on a small MNIST tree in the real IDX format.
    overrides = [f"dataset.root={fake_mnist(tmp_path / 'data').parent.parent}",
                 "train.replicas.seeds=[0,1]", "train.replicas.lrs=[0.01,0.1]"
                 ] if first == "table1" else []
    for i, artefact in enumerate(RUN_SETS[first]):
        out = reproduce(artefact, "--scale", "smoke", "--out", "out", *overrides, cwd=tmp_path)
        assert ("running:" if i == 0 else "reusing") in out
        for path in outputs(tmp_path / "out", artefact):
            assert path.stat().st_size > 0
            if path.suffix == ".png":  # a drawn figure, not an empty canvas
                pixels = plt.imread(path)
                assert pixels[..., :3].std() > 0.01, path
            elif path.suffix == ".csv":
                assert len(pd.read_csv(path)) > 0, path
    trained = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert trained == EXPERIMENTS_TRAINED.get(first, [f"{first}_smoke"])


@pytest.mark.e2e
def test_collected_tables_carry_the_run_configs(tmp_path):
    runs = tmp_path / "runs"
    reproduce("fig06", "--scale", "smoke", "--runs", str(runs), "--out", "figs", cwd=tmp_path)
    scalars = collect_scalars(runs)
    assert set(scalars.init) == {"standard", "normalized"} and set(scalars.step) == {0}
    assert set(scalars.activation) == {"tanh"} and set(scalars.depth) == {5}
    hist = collect_histograms(runs)
    assert {"act/layer1", "grad/layer5", "wgrad/layer6"} <= set(hist.tag)


@pytest.mark.parametrize("artefact", ["fig01", "fig05"])
@pytest.mark.e2e
def test_artefacts_without_runs(tmp_path, artefact):
    reproduce(artefact, "--out", "out", cwd=tmp_path)
    assert all(p.exists() for p in outputs(tmp_path / "out", artefact))
    assert not (tmp_path / "runs").exists()


def test_collect_without_runs_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="no TensorBoard event files"):
        collect_scalars(tmp_path)


@pytest.mark.parametrize("scale", ["cpu", "long"])
def test_draw_without_runs_stops_with_one_line(tmp_path, scale):
    res = run_reproduce("fig11", "--scale", scale, "--draw", "--runs", "nowhere", "--out", "out",
                        cwd=tmp_path)
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr[-3000:]
    assert res.stderr.startswith("error: no TensorBoard event files") and "--runs" in res.stderr
    assert not (tmp_path / "out").exists()


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


def test_fig11_rows_have_their_own_seeds():
    """Fig. 11's six runs draw independent initial weights and minibatch streams."""
    from omegaconf import OmegaConf
    sweep = OmegaConf.load(REPO / "conf" / "experiment" / "fig11.yaml").hydra.sweeper.params
    rows = sweep.row.split(",")
    seeds = {compose_config(["experiment=fig11", "scale=smoke", f"row={row}"]).seed for row in rows}
    assert len(rows) == 6 and len(seeds) == 6


@pytest.mark.e2e
def test_figures_redraw_from_saved_series(run_smoke, tmp_path):
    """collect.save_series keeps a run set's tidy tables as CSV; read back they equal the
    tables from the event files, and reproduce.py draws from them with no runs present."""
    from glorot_repro.analysis.collect import collect_summaries, save_series
    from glorot_repro.rundir.provenance import save_config
    runs = tmp_path / "runs"
    for activation in ("tanh", "softsign"):
        overrides = [f"activation={activation}", "init=standard"]
        run_smoke(*overrides, run_dir=runs / activation)
        # What Hydra writes beside a run, which run_smoke (train() in-process) does not.
        save_config(compose_config(["scale=smoke", *overrides]), runs / activation)
    series = tmp_path / "results" / "data" / "long" / "fig11" / "runs"
    assert [p.name for p in save_series(runs, series)] == ["scalars.csv", "histograms.csv",
                                                            "summaries.csv"]
    for collect in (collect_scalars, collect_histograms, collect_summaries):
        from_events, from_csv = collect(runs), collect(series.parent)
        assert from_csv.columns.tolist() == from_events.columns.tolist()
        plain = [{k: v.tolist() if hasattr(v, "tolist") else v for k, v in row.items()}
                 for row in from_csv.to_dict("records")]
        assert plain == [{k: v.tolist() if hasattr(v, "tolist") else v for k, v in row.items()}
                         for row in from_events.to_dict("records")]
    for artefact in ("fig03", "fig04"):
        out = reproduce(artefact, "--scale", "long", "--out", "results", cwd=tmp_path)
        assert "drawing from the saved series" in out
        assert (tmp_path / "results" / "figures" / "long" / f"{artefact}.png").exists()


@pytest.mark.e2e
def test_saved_run_sets_add_up(run_smoke, tmp_path):
    """An experiment's run sets trained at different times (each activation's pilot, say) are
    read as one table from their saved series, and reproduce.py saves a new set beside the old
    ones and draws from all of them."""
    from glorot_repro.analysis.collect import save_series
    from glorot_repro.rundir.provenance import save_config
    saved = tmp_path / "results" / "data" / "long" / "fig11"
    for activation in ("tanh", "softsign"):
        overrides = [f"activation={activation}", "init=standard"]
        run_smoke(*overrides, run_dir=tmp_path / f"{activation}_set" / "run")
        save_config(compose_config(["scale=smoke", *overrides]), tmp_path / f"{activation}_set" / "run")
    save_series(tmp_path / "tanh_set", saved / "tanh_set")
    out = reproduce("fig11", "--scale", "long", "--draw", "--runs", str(tmp_path / "softsign_set"),
                    "--out", "results", cwd=tmp_path)
    assert "drawing the runs in" in out
    assert (saved / "softsign_set" / "scalars.csv").exists()
    assert set(collect_scalars(saved).activation) == {"tanh", "softsign"}
    assert set(collect_scalars(saved).run) == {"tanh_set/run", "softsign_set/run"}
    # The claims judge what is there and start no training: MNIST's runs are absent here.
    reproduce("claims", "--scale", "long", "--out", "results", cwd=tmp_path)
    verdicts = pd.read_csv(tmp_path / "results" / "tables" / "claims_long.csv")
    assert verdicts.set_index("claim").verdict["mnist_column"] == "not run"
    assert not (tmp_path / "runs").exists()


@pytest.mark.e2e
def test_escape_artefacts_from_mnist_sigmoid_runs(run_smoke, tmp_path):
    """reproduce.py escape and escape_curves draw from MNIST sigmoid runs of any init and rate,
    with the other run sets absent, save the runs' series and train nothing."""
    from glorot_repro.rundir.provenance import save_config
    root = fake_mnist(tmp_path / "data").parent.parent
    runs = tmp_path / "mnist_sigmoid"
    for init, lr in (("standard", 0.1), ("normalized", 0.3)):
        overrides = ["activation=sigmoid", f"init={init}", f"train.lr={lr}", "dataset=mnist",
                     f"dataset.root={root}"]
        run_smoke(*overrides, run_dir=runs / f"{init}_{lr}")
        save_config(compose_config(["scale=smoke", "device=cpu", *overrides]), runs / f"{init}_{lr}")
    for artefact in ("escape", "escape_curves"):
        reproduce(artefact, "--scale", "long", "--runs", str(runs), "--runs", "no_table1",
                  "--runs", "no_diagnostic", "--out", "results", cwd=tmp_path)
    table = pd.read_csv(tmp_path / "results" / "tables" / "escape_long.csv")
    assert sorted(zip(table.init, table.lr)) == [("normalized", 0.3), ("standard", 0.1)]
    assert set(table.run_set) == {"escape"} and set(table.updates) == {60}
    assert (tmp_path / "results" / "figures" / "long" / "escape_curves.png").exists()
    assert (tmp_path / "results" / "data" / "long" / "escape" / "mnist_sigmoid" / "scalars.csv").exists()
    assert not (tmp_path / "runs").exists()


def reproduce_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location("reproduce", REPO / "scripts" / "reproduce.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_long_rows_train_at_the_pilots_choices(tmp_path, capsys):
    """At --scale long each job of Fig. 11's and Table 1's sweeps gets its own command at the
    rate pilot_long.csv chose for its (dataset, activation, init, pixel range); a row the pilot
    lacks stops it with exit 2 and one line naming the row and the rows piloted."""
    from glorot_repro.analysis.pilot import PILOT_KEYS
    rows = {"sigmoid_standard": ("sigmoid", "standard"), "sigmoid_normalized": ("sigmoid", "normalized"),
            "tanh_standard": ("tanh", "standard"), "tanh_normalized": ("tanh", "normalized"),
            "softsign_standard": ("softsign", "standard"),
            "softsign_normalized": ("softsign", "normalized")}
    records = [dict(zip(PILOT_KEYS, ("shapeset", a, i, signed)), lr=lr,
                    chosen=(lr == {"tanh": 0.01, "softsign": 0.003, "sigmoid": 0.1}[a]) != signed)
               for a, i in rows.values() for signed in (False, True) for lr in (0.003, 0.01, 0.1)]
    (tmp_path / "tables").mkdir()
    pd.DataFrame(records).to_csv(tmp_path / "tables" / "pilot_long.csv", index=False)
    commands = reproduce_module().row_overrides("fig11", "long", ["log.progress=false"], tmp_path)
    assert commands == [[f"row={row}", f"train.lr={ {'tanh': 0.01, 'softsign': 0.003, 'sigmoid': 0.1}[a]:g}",
                         "log.progress=false"] for row, (a, _) in rows.items()]
    assert reproduce_module().row_overrides("fig11", "long", ["train.lr=0.5"], tmp_path) == [["train.lr=0.5"]]
    assert reproduce_module().row_overrides("fig11", "long", ["row=softsign_normalized"], tmp_path) == [
        ["row=softsign_normalized", "train.lr=0.003"]]
    # Table 1's MNIST column: one job per (dataset, activation, init) of its sweep at scale=long.
    mnist = [{**r, "dataset": "mnist", "lr": r["lr"] * 2} for r in records]
    pd.DataFrame(records + mnist).to_csv(tmp_path / "tables" / "pilot_long.csv", index=False)
    commands = reproduce_module().row_overrides("table1", "long", ["activation=tanh"], tmp_path)
    assert commands == [["dataset=mnist", "activation=tanh", f"init={i}", "train.lr=0.02"]
                        for i in ("standard", "normalized")]
    pd.DataFrame([r for r in records if r["activation"] != "softsign"]).to_csv(
        tmp_path / "tables" / "pilot_long.csv", index=False)
    with pytest.raises(SystemExit) as stopped:
        reproduce_module().row_overrides("fig11", "long", [], tmp_path)
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and err.count("\n") == 1
    assert "row=softsign_standard: no pilot choice for shapeset/softsign/standard/False" in err
    assert "shapeset/tanh/normalized/False" in err


def test_horizon_rows_train_at_the_200k_choices(tmp_path, capsys):
    """At --scale horizon the Shapeset tanh/softsign rows train at the rate and pixel range that
    rates_long.csv chose at 200k updates; the sigmoid rows at the pilot's rate on that range."""
    from glorot_repro.analysis.pilot import PILOT_KEYS
    (tmp_path / "tables").mkdir()
    pilot = [dict(zip(PILOT_KEYS, ("shapeset", a, i, signed)), lr=0.003, chosen=True)
             for a in ("sigmoid", "tanh", "softsign") for i in ("standard", "normalized")
             for signed in (False, True)]
    pd.DataFrame(pilot).to_csv(tmp_path / "tables" / "pilot_long.csv", index=False)
    rates = [{"activation": a, "init": i, "signed_pixels": True, "lr": lr, "updates": 200000,
              "valid_error": 50.0, "chosen": lr == 0.1, "dataset": "shapeset"}
             for a in ("tanh", "softsign") for i in ("standard", "normalized") for lr in (0.03, 0.1)]
    module = reproduce_module()
    with pytest.raises(SystemExit):
        module.row_overrides("fig11", "horizon", [], tmp_path)
    assert "rates_long.csv" in capsys.readouterr().err
    pd.DataFrame(rates).to_csv(tmp_path / "tables" / "rates_long.csv", index=False)
    commands = module.row_overrides("fig11", "horizon", ["row=tanh_normalized,sigmoid_standard"],
                                    tmp_path)
    assert commands == [["row=tanh_normalized", "dataset.signed_pixels=true", "train.lr=0.1"],
                        ["row=sigmoid_standard", "dataset.signed_pixels=true", "train.lr=0.003"]]
    # the other range has no 200k-update choice: one line naming it
    with pytest.raises(SystemExit) as stopped:
        module.row_overrides("fig11", "horizon", ["row=tanh_standard", "dataset.signed_pixels=false"],
                             tmp_path)
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and err.count("\n") == 1
    assert "no pilot choice for shapeset/tanh/standard/False" in err


def test_records_markdown_escapes_pipes_in_cells():
    """A claim's text such as "98th pct of |z|" stays one cell of its row."""
    md = records_markdown(pd.DataFrame({"measured": ["98th pct of |z|"], "n": [1.5]}))
    assert md.splitlines()[2] == "| 98th pct of \\|z\\| | 1.5 |"


SMOKE_SIZED = ["model.width=16", "train.updates=30", "train.eval_every=10", "train.checkpoint_every=10",
               "log.progress=false", "dataset.n_valid=100", "dataset.n_test=100", "log.probe_size=100"]
# Every long-scale budget, with the first job of its sweep and what that job trains.
LONG_SETS = {"fig11": (["row=tanh_standard"], ["seed3_lr0.03", "seed1003_lr0.03"]),
             "pilot": (["activation=tanh"], [f"{i}_seed0_lr{lr}" for i in ("standard", "normalized")
                                             for lr in ("0.003", "0.01", "0.03", "0.1")]),
             "fig02_mnist": ([], []),
             "rates": (["row=tanh_standard"], ["seed3_lr0.03"]),
             "table1": (["dataset=mnist", "activation=tanh", "init=standard"],
                        ["seed0_lr0.03", "seed1_lr0.03"])}


@pytest.mark.parametrize("experiment", sorted(LONG_SETS))
@pytest.mark.e2e
def test_long_scale_configs_train_at_smoke_size(run_smoke, tmp_path, experiment):
    """Each long budget's config as it composes at scale=long, shrunk to smoke size: the same
    stacks (seeds from the row, the pilot's init x lr grid) train and write their run dirs."""
    sweep_job, replicas = LONG_SETS[experiment]
    assert (REPO / "conf" / "budget" / f"{experiment}_long.yaml").exists()
    mnist = [f"dataset.root={fake_mnist(tmp_path / 'data').parent.parent}"]
    extra = {"fig02_mnist": [*mnist, "log.every=10", "log.histograms=20"],
             "table1": mnist}.get(experiment, [])
    cfg = compose_config([f"experiment={experiment}", "scale=long", *sweep_job, *SMOKE_SIZED,
                          *extra])
    from glorot_repro.train import train
    summary = train(cfg, tmp_path / "run")
    assert summary["status"] == "completed"
    assert sorted(p.name for p in (tmp_path / "run").iterdir() if p.is_dir()) == sorted(replicas)
