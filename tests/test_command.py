"""The command's first minute: bad input in one line, Ctrl-C while importing, what start-up
imports, and where a sweep's logs are said to be."""
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from glorot_repro.command.callbacks import SweepLogs
from glorot_repro.command.compose import compose_config

from conftest import REPO, entry_point


# case -> (overrides, what the one line must name); {file} is a file where a folder is wanted,
# {missing} a dataset root that does not exist
BAD_INPUTS = {
    "option": (["activation=tanhh"], ["activation='tanhh'", "sigmoid, softplus, softsign, tanh"]),
    "experiment": (["experiment=fig99"], ["experiment='fig99'", "fig02", "table1"]),
    "scale": (["scale=huge"], ["scale='huge'", "cpu, horizon, long, paper, smoke"]),
    "budget": (["budget=huge"], ["budget='huge'", "table1_cpu"]),
    "launcher": (["hydra/launcher=joblb"], ["hydra/launcher='joblb'", "joblib"]),
    "float": (["train.lr=fast"], ["train.lr", "'fast'", "Float"]),
    "int": (["model.width=1.5"], ["model.width", "'1.5'", "Integer"]),
    "seed": (["seed=abc"], ["seed", "'abc'", "Integer"]),
    "bool": (["log.progress=maybe"], ["log.progress", "'maybe'", "bool"]),
    "no =": (["model.width"], ["'model.width'", "key=value"]),
    "misspelt": (["train.lrr=0.1"], ["unknown key 'train.lrr'", "batch_size, lr"]),
    "misspelt +": (["+model.widht=64"], ["unknown key 'model.widht'", "depth, width"]),
    "zero": (["model.depth=0"], ["model.depth must be a positive integer, got 0"]),
    "lr 0": (["train.lr=0"], ["train.lr must be > 0, got 0"]),
    "lr inf": (["train.lr=inf"], ["train.lr must be a finite number, got inf"]),
    "width 1": (["model.depth=100", "model.width=1"], ["model.width must be at least 2, got 1"]),
    "graphs on a CPU": (["device=cpu", "train.cuda_graphs=on"],
                        ["train.cuda_graphs=on needs a CUDA device", "auto or off"]),
    "graphs, autograd": (["train.step=autograd", "train.cuda_graphs=on"],
                         ["train.cuda_graphs=on captures the lean step"]),
    "root a file": (["dataset=mnist", "dataset.root={file}"],
                    ["dataset.root={file} is a file", "MNIST/raw/"]),
    "no mnist": (["dataset=mnist", "dataset.root={missing}"],
                 ["MNIST root folder {missing} does not exist", "dataset.download=true"]),
    "no cifar10": (["dataset=cifar10", "dataset.root={missing}"],
                   ["CIFAR-10 folder {missing}/cifar-10-batches-py does not exist"]),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
@pytest.mark.e2e
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, case):
    a_file = tmp_path / "a_file"
    a_file.write_text("not a dataset folder")
    places = {"file": a_file, "missing": tmp_path / "no_data"}
    overrides, needles = ([text.format(**places) for text in texts]
                          for texts in BAD_INPUTS[case])
    res = entry_point("scale=smoke", *overrides, f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert res.returncode == 2, res.stderr[-3000:]
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr[-3000:]
    for needle in needles:
        assert needle in lines[0]
    assert res.stdout == ""
    assert list(tmp_path.iterdir()) == [a_file]  # no run dir, no .hydra, no train.log


def test_budget_is_a_config_group():
    cfg = compose_config(["experiment=table1", "scale=cpu", "budget=table1_cpu"])
    assert cfg.model.width == 500 and cfg.train.updates == 8000


def _loading(pid: int, library: str, timeout: float = 120) -> None:
    """Wait until process `pid` has mapped a shared library whose path holds `library`."""
    maps = Path(f"/proc/{pid}/maps")
    end = time.time() + timeout
    while library not in maps.read_text():
        assert time.time() < end, f"{library} never loaded"
        time.sleep(0.01)


@pytest.mark.e2e
def test_ctrl_c_while_importing_torch_is_one_line(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "glorot_repro.train", "scale=smoke",
         f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
        # a shell's background job starts with SIGINT ignored; a terminal's Ctrl-C is not
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    _loading(proc.pid, "libtorch")  # the import takes seconds: the Ctrl-C lands in it
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert err == "interrupted (Ctrl-C)\n"
    assert not (tmp_path / "run").exists()


def _imported(*command: str) -> set[str]:
    """The top-level packages `python -X importtime <command>` imports."""
    res = subprocess.run([sys.executable, "-X", "importtime", *command], capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return {line.rsplit("|", 1)[1].strip().split(".")[0]
            for line in res.stderr.splitlines() if line.startswith("import time:")}


HEAVY = {"torch", "matplotlib", "pandas", "tbparse", "scipy"}


def test_help_imports_none_of_the_heavy_packages():
    assert not _imported("-m", "glorot_repro.train", "--help") & HEAVY
    assert not _imported(str(REPO / "scripts" / "reproduce.py"), "--help") & HEAVY


@pytest.mark.e2e
def test_training_imports_no_plotting_or_tables(tmp_path):
    code = ("import sys; from glorot_repro.train import main; main(); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'matplotlib', 'pandas', "
            "'tbparse', 'scipy'}))")
    res = subprocess.run([sys.executable, "-c", code, "scale=smoke", "train.updates=0",
                          f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.splitlines()[-1] == "[]"


# sweep overrides -> what the one line must name; {missing} a dataset root that does not exist
BAD_SWEEPS = {
    "a job's dataset": (["dataset=shapeset,mnist", "dataset.root={missing}"],
                        ["the sweep's job dataset=mnist:", "MNIST root folder {missing}"]),
    "a job's value": (["train.lr=0.1,0"], ["the sweep's job train.lr=0:", "train.lr must be > 0"]),
    "an experiment's job": (["experiment=table1", "dataset.root={missing}"],
                            ["the sweep's job dataset=mnist activation=sigmoid init=standard:"]),
}


@pytest.mark.parametrize("case", BAD_SWEEPS)
@pytest.mark.e2e
def test_a_sweep_with_a_bad_job_stops_before_any_job_runs(tmp_path, case):
    """Every job is checked before the sweep's dir is made: the good jobs before the bad one do
    not run for nothing, and nothing is written."""
    overrides, needles = ([t.format(missing=tmp_path / "no_data") for t in texts]
                          for texts in BAD_SWEEPS[case])
    res = entry_point("-m", "scale=smoke", *overrides, f"hydra.sweep.dir={tmp_path / 'sweep'}",
                      cwd=tmp_path)
    assert res.returncode == 2, res.stderr[-3000:]
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr[-3000:]
    for needle in needles:
        assert needle in lines[0]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.e2e
def test_a_sweep_ends_with_one_tensorboard_line_for_all_its_runs(tmp_path):
    sweep = tmp_path / "sweep"
    res = entry_point("-m", "scale=smoke", "train.updates=0", "seed=0,1",
                      f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    lines = (res.stdout + res.stderr).splitlines()
    assert lines[-1].endswith(f"view the whole sweep: tensorboard --logdir {sweep}")
    assert sum("tensorboard --logdir" in line for line in lines) == 3  # each job's, and the sweep's


def test_submitit_sweep_says_where_the_jobs_output_goes(caplog):
    launcher = {"submitit_folder": "multiruns/x/.submitit/%j"}
    config = OmegaConf.create({"hydra": {"launcher": launcher, "sweep": {"dir": "multiruns/x"}}})
    with caplog.at_level("INFO", logger="glorot_repro"):
        SweepLogs().on_multirun_start(config)
    assert "each job's output goes to multiruns/x/.submitit/%j" in caplog.text
