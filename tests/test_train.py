"""Training end to end: the real entry point, event files, summary.json, resume, divergence, errors."""
import os
import re
import signal
import time

import pytest
import torch
from omegaconf import OmegaConf

from glorot_repro.command.compose import compose_config
from glorot_repro.command.validate import validate
from glorot_repro.errors import ConfigError
from glorot_repro.measure.tblog import logdir
from glorot_repro.nets.activations import ACTIVATIONS
from glorot_repro.nets.init import INITS
from glorot_repro.nets.losses import cost
from glorot_repro.rundir.checkpoint import load_checkpoint
from glorot_repro.rundir.lock import LOCK
from glorot_repro.training.run import Run

from conftest import REPO, comparable, crash_at, entry_point, read_summary, scalars

SUMMARY_KEYS = {"status", "updates", "examples", "best_valid_error", "test_error_at_best_valid",
                "final_test_error", "seconds", "examples_per_second", "versions", "git"}


@pytest.mark.e2e
def test_every_activation_and_init_through_the_entry_point(tmp_path):
    """One Hydra multirun over activation x init, from a directory outside the repo."""
    sweep = tmp_path / "sweep"
    res = entry_point("-m", f"activation={','.join(ACTIVATIONS)}", f"init={','.join(INITS)}",
                      "scale=smoke", "device=cpu", f"hydra.sweep.dir={sweep}",
                      "hydra.sweep.subdir=${activation.name}_${init.name}", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    for act in ACTIVATIONS:
        for init in INITS:
            run_dir = sweep / f"{act}_{init}"
            summary = read_summary(run_dir)
            assert SUMMARY_KEYS <= summary.keys()
            assert summary["status"] == "completed" and summary["updates"] == 60
            assert summary["examples"] == 600
            cfg = (run_dir / ".hydra" / "config.yaml").read_text()
            assert f"name: {act}" in cfg and f"name: {init}" in cfg
            logged = scalars(run_dir)
            assert [s for s, _ in logged["error/valid"]] == [0, 20, 40, 60]
            assert [s for s, _ in logged["error/train"]] == [20, 40, 60]
            assert {"error/test", "loss/train"} <= logged.keys()
            assert all(0 <= v <= 100 for _, v in logged["error/test"])
            assert (run_dir / "checkpoint.pt").exists() and (run_dir / "train.log").exists()


@pytest.mark.e2e
def test_single_run_prints_where_logs_are(tmp_path):
    run_dir = tmp_path / "one"
    res = entry_point("scale=smoke", "device=cpu", "train.updates=20", f"hydra.run.dir={run_dir}",
                      cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout + res.stderr
    assert f"tensorboard --logdir {run_dir.parent}" in out  # the run shows as "one", not "."
    assert "completed: 20 updates" in out


@pytest.mark.e2e
def test_a_run_in_a_scratch_folder_prints_its_own_logdir(tmp_path):
    """TensorBoard would load every event file under a scratch folder: the line names the run
    dir itself there."""
    scratch = tmp_path / "scratch"
    (scratch / "someone_else").mkdir(parents=True)
    res = entry_point("scale=smoke", "device=cpu", "train.updates=0",
                      f"hydra.run.dir={scratch / 'x'}", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.splitlines()[-1].endswith(f"view: tensorboard --logdir {scratch / 'x'}")


def test_the_logdir_is_the_parent_only_where_it_holds_runs_of_ours(tmp_path):
    sweep = tmp_path / "sweep"
    for job in ("0_lr=0.1", "1_lr=0.3"):
        (sweep / job).mkdir(parents=True)
        (sweep / job / LOCK).write_text("1\n")
    (sweep / LOCK).write_text("1\n")
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    assert logdir(sweep / "0_lr=0.1") == sweep
    (sweep / "notes.txt").write_text("not a run")
    assert logdir(sweep / "0_lr=0.1") == sweep / "0_lr=0.1"


@pytest.mark.e2e
def test_summary_matches_logged_errors(run_smoke):
    summary, run_dir = run_smoke("seed=3")
    valid = dict(scalars(run_dir)["error/valid"])
    test = dict(scalars(run_dir)["error/test"])
    best_step = min(valid, key=lambda s: (valid[s], s))
    assert summary["best_valid_error"] == pytest.approx(valid[best_step], abs=1e-4)
    assert summary["best_update"] == best_step
    assert summary["test_error_at_best_valid"] == pytest.approx(test[best_step], abs=1e-4)
    assert summary["final_test_error"] == pytest.approx(test[60], abs=1e-4)


@pytest.mark.e2e
def test_same_seed_same_numbers_other_seed_differs(run_smoke, tmp_path):
    a, _ = run_smoke("seed=5", run_dir=tmp_path / "a")
    b, _ = run_smoke("seed=5", run_dir=tmp_path / "b")
    c, _ = run_smoke("seed=6", run_dir=tmp_path / "c")
    keys = ("best_valid_error", "final_test_error", "final_valid_error")
    assert [a[k] for k in keys] == [b[k] for k in keys]
    assert scalars(tmp_path / "a")["loss/train"] == scalars(tmp_path / "b")["loss/train"]
    assert scalars(tmp_path / "a")["loss/train"] != scalars(tmp_path / "c")["loss/train"]


@pytest.mark.parametrize("crash_update", [17, 45])
@pytest.mark.e2e
def test_killed_run_resumes_to_the_same_numbers(run_smoke, tmp_path, monkeypatch, crash_update):
    """A crash (no chance to save) loses only the updates since the last checkpoint; rerunning
    in the same run dir ends with exactly the numbers and logged series of an uninterrupted run."""
    straight, _ = run_smoke(run_dir=tmp_path / "straight")

    class Killed(Exception):
        pass

    def die():
        raise Killed

    crash_at(monkeypatch, crash_update, die)
    with pytest.raises(Killed):
        run_smoke(run_dir=tmp_path / "resumed")
    assert not (tmp_path / "resumed" / "summary.json").exists()  # a crash claims nothing
    monkeypatch.undo()
    resumed, _ = run_smoke(run_dir=tmp_path / "resumed")
    assert comparable(resumed) == comparable(straight)
    assert scalars(tmp_path / "resumed") == scalars(tmp_path / "straight")


@pytest.mark.parametrize("overrides,stop_at", [
    ((), 25),  # at smoke width no layer is deferred (its factors would outweigh W)
    (("model.width=256", "train.defer=4"), 28),  # deferred: the next update with none pending
])
@pytest.mark.e2e
def test_sigterm_saves_checkpoint_and_resume_matches(run_smoke, tmp_path, monkeypatch,
                                                     overrides, stop_at):
    straight, _ = run_smoke(*overrides, run_dir=tmp_path / "straight")
    crash_at(monkeypatch, 25, lambda: os.kill(os.getpid(), signal.SIGTERM))
    stopped, run_dir = run_smoke(*overrides, run_dir=tmp_path / "resumed")
    assert stopped["status"] == "interrupted" and stopped["updates"] == stop_at
    monkeypatch.undo()
    resumed, _ = run_smoke(*overrides, run_dir=run_dir)
    assert comparable(resumed) == comparable(straight)
    assert scalars(run_dir) == scalars(tmp_path / "straight")


@pytest.mark.e2e
def test_interrupted_summary_says_which_update_its_last_errors_are_from(run_smoke, monkeypatch,
                                                                       caplog):
    crash_at(monkeypatch, 45, lambda: os.kill(os.getpid(), signal.SIGTERM))
    with caplog.at_level("INFO", logger="glorot_repro"):
        summary, _ = run_smoke()
    assert summary["status"] == "interrupted"
    assert (f"test error at the last evaluation {summary['final_test_error']:.2f}% (update 40)"
            in caplog.text)
    assert "final test error" not in caplog.text


@pytest.mark.e2e
def test_first_eta_leaves_out_the_start_evaluation(run_smoke, monkeypatch, capsys):
    """The evaluation at update 0 takes 5 s here; were it timed as an update, the bar's first
    ETA would read 59 x 5 s or more. Half that leaves room for a busy machine's slow updates."""
    evaluate = Run.evaluate

    def slow_at_the_start(self, u, *sets):
        if u == 0:
            time.sleep(5)
        return evaluate(self, u, *sets)

    monkeypatch.setattr(Run, "evaluate", slow_at_the_start)
    run_smoke("log.progress=true")
    etas = re.findall(r"<(\d+):(\d+)", capsys.readouterr().err)
    assert etas and all(60 * int(m) + int(s) < 59 * 5 / 2 for m, s in etas), etas


@pytest.mark.e2e
def test_divergence_stops_keeps_last_good_checkpoint(run_smoke, monkeypatch, caplog):
    """Inputs turn NaN from update 35: the check at 40 (train.check_every=10 at smoke scale)
    stops the run; the checkpoint of update 30 stays, finite."""
    crash_at(monkeypatch, 35, lambda: None, transform=lambda x: x * float("nan"))
    summary, run_dir = run_smoke()
    assert summary["status"] == "diverged" and summary["updates"] == 40
    ckpt = load_checkpoint(run_dir)
    assert ckpt["progress"]["update"] == 30
    assert all(torch.isfinite(p).all() for p in ckpt["model"].values())
    assert "diverged: the training loss became NaN/inf between updates 30 and 40" in caplog.text
    assert "last good checkpoint (update 30)" in caplog.text


@pytest.mark.e2e
def test_diverged_single_run_exits_non_zero(tmp_path):
    res = entry_point("scale=smoke", "device=cpu", "activation=relu", "train.lr=1e6",
                      f"hydra.run.dir={tmp_path / 'd'}", cwd=tmp_path)
    assert res.returncode == 1
    assert "diverged" in res.stderr + res.stdout
    assert read_summary(tmp_path / "d")["status"] == "diverged"


@pytest.mark.parametrize("loss", ["nll", "quadratic"])
@pytest.mark.e2e
def test_lean_and_autograd_steps_train_alike(run_smoke, tmp_path, loss):
    lean, _ = run_smoke(f"train.loss={loss}", run_dir=tmp_path / "lean")
    auto, _ = run_smoke(f"train.loss={loss}", "train.step=autograd", run_dir=tmp_path / "auto")
    assert lean["status"] == auto["status"] == "completed"
    lean_loss = [v for _, v in scalars(tmp_path / "lean")["loss/train"]]
    auto_loss = [v for _, v in scalars(tmp_path / "auto")["loss/train"]]
    assert lean_loss == pytest.approx(auto_loss, rel=1e-4)


def test_quadratic_cost_formula():
    logits = torch.tensor([[2.0, 0.0, -1.0]])
    p = logits.softmax(1)[0]
    expected = 0.5 * ((p[0] - 0) ** 2 + (p[1] - 1) ** 2 + p[2] ** 2)
    torch.testing.assert_close(cost(logits, torch.tensor([1]), "quadratic"), expected)


@pytest.mark.parametrize("override,message", [
    ("activation.name=gelu", "activation.name='gelu' is not valid; choose one of: sigmoid, tanh"),
    ("init.name=xavier", "init.name='xavier' is not valid; choose one of: standard, normalized"),
    ("train.loss=hinge", "train.loss='hinge' is not valid; choose one of: nll, quadratic"),
    ("model.depth=0", "model.depth must be a positive integer, got 0"),
    ("model.width=-3", "model.width must be a positive integer, got -3"),
    ("train.defer=0", "train.defer must be a positive integer, got 0"),
    ("train.lr=0", "train.lr must be > 0"),
])
@pytest.mark.e2e
def test_bad_values_name_the_valid_ones(run_smoke, override, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        run_smoke(override)


def test_misspelt_key_lists_valid_keys():
    with pytest.raises(ConfigError, match="unknown key 'train.lrr': train has batch_size, lr"):
        compose_config(["train.lrr=0.1"])


def test_every_config_group_option_composes():
    for group in ("activation", "init", "pretrain", "dataset", "scale"):
        for option in sorted(p.stem for p in (REPO / "conf" / group).glob("*.yaml")):
            cfg = compose_config([f"{group}={option}"])
            OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
            assert getattr(cfg, group).name == option if group != "scale" else cfg.train.updates > 0


REPLICAS = ("train.replicas.seeds=[0,1]", "train.replicas.lrs=[0.03,0.1]")


def _close_series(a, b):
    assert a.keys() == b.keys()
    for tag in a:
        assert [s for s, _ in a[tag]] == [s for s, _ in b[tag]], tag
        assert [v for _, v in a[tag]] == pytest.approx([v for _, v in b[tag]], rel=1e-3, abs=1e-4), tag


@pytest.mark.e2e
def test_each_replica_equals_the_run_it_would_be_alone(run_smoke, tmp_path):
    """Four models (seeds x learning rates) in one process; replica (seed 1, lr 0.1) ends with the
    numbers of `seed=1 train.lr=0.1` run alone, up to float rounding (its lr scales the step
    inside the batched matmul instead of after it)."""
    group, group_dir = run_smoke(*REPLICAS, run_dir=tmp_path / "group")
    assert group["status"] == "completed" and len(group["replicas"]) == 4
    names = sorted(p.name for p in group_dir.iterdir() if p.is_dir())
    assert names == ["seed0_lr0.03", "seed0_lr0.1", "seed1_lr0.03", "seed1_lr0.1"]
    alone, alone_dir = run_smoke("seed=1", "train.lr=0.1", run_dir=tmp_path / "alone")
    replica_dir = group_dir / "seed1_lr0.1"
    replica = read_summary(replica_dir)
    for key in ("status", "updates", "examples", "best_update"):
        assert replica[key] == alone[key]
    for key in ("best_valid_error", "final_test_error", "final_valid_error"):
        assert replica[key] == pytest.approx(alone[key], abs=0.5)  # at most one example of 200
    _close_series(scalars(replica_dir), scalars(alone_dir))
    cfg = (replica_dir / ".hydra" / "config.yaml").read_text()
    assert "seed: 1" in cfg and "lr: 0.1" in cfg
    assert (replica_dir / "checkpoint.pt").exists()


@pytest.mark.e2e
def test_a_stack_of_one_names_its_replica(run_smoke, tmp_path):
    """train.replicas.n_seeds=1 (one net of a row, as the long runs train it) writes its replica
    dir with the config it ran with, so the collector can name it (init, lr, seed)."""
    from glorot_repro.analysis.collect import collect_summaries
    _, group_dir = run_smoke("train.replicas.n_seeds=1", "seed=7", run_dir=tmp_path / "group")
    assert "seed: 7" in (group_dir / "seed7_lr0.03" / ".hydra" / "config.yaml").read_text()
    assert collect_summaries(group_dir)[["seed", "lr"]].values.tolist() == [[7, 0.03]]


@pytest.mark.e2e
def test_replicas_across_inits_equal_the_runs_alone(run_smoke, tmp_path):
    """Standard and normalized nets in one stack: each replica is the lone run with its init."""
    group, group_dir = run_smoke("train.replicas.inits=[standard,normalized]", "seed=1",
                                 run_dir=tmp_path / "group")
    names = sorted(p.name for p in group_dir.iterdir() if p.is_dir())
    assert names == ["normalized_seed1_lr0.03", "standard_seed1_lr0.03"]
    for init in ("standard", "normalized"):
        alone, alone_dir = run_smoke("seed=1", f"init={init}", run_dir=tmp_path / init)
        replica_dir = group_dir / f"{init}_seed1_lr0.03"
        assert read_summary(replica_dir)["best_update"] == alone["best_update"]
        _close_series(scalars(replica_dir), scalars(alone_dir))
        assert f"name: {init}" in (replica_dir / ".hydra" / "config.yaml").read_text()
    with pytest.raises(ConfigError, match="train.replicas.inits holds 'xavier'"):
        run_smoke("train.replicas.inits=[xavier]")


@pytest.mark.e2e
def test_replicas_resume_after_a_kill(run_smoke, tmp_path, monkeypatch):
    straight, _ = run_smoke(*REPLICAS, run_dir=tmp_path / "straight")

    class Killed(Exception):
        pass

    def die():
        raise Killed

    crash_at(monkeypatch, 4 * 44 + 1, die)  # 4 minibatches per update: dies during update 45
    with pytest.raises(Killed):
        run_smoke(*REPLICAS, run_dir=tmp_path / "resumed")
    monkeypatch.undo()
    resumed, _ = run_smoke(*REPLICAS, run_dir=tmp_path / "resumed")
    for a, b in zip(resumed["replicas"], straight["replicas"]):
        assert comparable(a) == comparable(b)
    for name in ("seed0_lr0.03", "seed1_lr0.1"):
        assert scalars(tmp_path / "resumed" / name) == scalars(tmp_path / "straight" / name)


@pytest.mark.e2e
def test_autograd_step_refuses_replicas(run_smoke):
    with pytest.raises(ConfigError, match="train.step=autograd trains one model"):
        run_smoke(*REPLICAS, "train.step=autograd")


def test_replica_plan_n_seeds_from_the_row_seed(tmp_path):
    """train.replicas.n_seeds counts seeds from the run's own seed, 1000 apart, so two rows
    with seeds 3 and 4 never share one; with inits and lrs it is their product."""
    from glorot_repro.training.replicas import replica_runs
    cfg = compose_config(["scale=smoke", "seed=3", "train.replicas.n_seeds=2",
                          "train.replicas.inits=[standard,normalized]", "train.replicas.lrs=[0.1]"])
    plan = replica_runs(cfg, tmp_path)
    assert [p.name for _, p in plan] == ["standard_seed3_lr0.1", "standard_seed1003_lr0.1",
                                         "normalized_seed3_lr0.1", "normalized_seed1003_lr0.1"]
    assert [(c.init.name, c.seed, c.train.lr) for c, _ in plan][1] == ("standard", 1003, 0.1)
    with pytest.raises(ConfigError, match="both set"):
        validate(compose_config(["train.replicas.n_seeds=2", "train.replicas.seeds=[1]"]))
