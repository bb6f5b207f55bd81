"""Runs survive kills (SIGKILL at any point, checkpoint writes included), SIGTERM, divergence,
damaged checkpoints, failed writes and bad input, without losing or duplicating data."""
import logging
import os
import shutil
import signal
from pathlib import Path

import pytest
import torch
from torch.utils.tensorboard import SummaryWriter

import glorot_repro.training.run
from glorot_repro.command.compose import compose_config
from glorot_repro.data import build_data
from glorot_repro.errors import ConfigError, ResumeError, RunDirError
from glorot_repro.measure.tblog import drop_events_after
from glorot_repro.nets.model import DeepMLP
from glorot_repro.rundir.checkpoint import (CHECKPOINT, PREVIOUS, load_checkpoint, read_checkpoint,
                                            temp_path)
from glorot_repro.rundir.lock import LOCK
from glorot_repro.train import train
from glorot_repro.training.fast import kernels
from glorot_repro.training.fast.graphs import GraphedSGD
from glorot_repro.training.fast.lean import LeanSGD
from glorot_repro.training.step import AutogradSGD, numeric_path

from conftest import (ARGS, comparable, crash_at, entry_point, fake_mnist, histograms,
                      one_line_error, read_summary, scalars)

@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The reference: the same command run straight through, in its own process."""
    tmp = tmp_path_factory.mktemp("uninterrupted")
    res = entry_point(*ARGS, f"hydra.run.dir={tmp / 'run'}", cwd=tmp)
    assert res.returncode == 0, res.stderr[-3000:]
    return tmp / "run"


def assert_same_as(run_dir: Path, reference: Path) -> None:
    assert comparable(read_summary(run_dir)) == comparable(read_summary(reference))
    assert scalars(run_dir) == scalars(reference)  # no step missing, none twice
    assert histograms(run_dir) == histograms(reference)


# ------------------------------------------------------------------------------------------------
# 1. SIGKILL, damaged checkpoints, failed writes
# ------------------------------------------------------------------------------------------------
@pytest.mark.e2e
def test_sigkill_anywhere_then_resume_equals_the_uninterrupted_run(tmp_path, paused, uninterrupted):
    """Killed three times (between checkpoints, with the new checkpoint half written, and between
    the two renames that put it in place), resumed after each: it ends with the summary and every
    logged series of the run that was never killed."""
    run_dir = tmp_path / "run"
    paused(run_dir, "update", 47).kill()  # checkpoints at 20 and 40 written, events up to 46
    assert read_checkpoint(run_dir / CHECKPOINT)["progress"]["update"] == 40

    paused(run_dir, "checkpoint_write", 1).kill()  # resumed from 40; dies writing 60
    assert read_checkpoint(run_dir / CHECKPOINT)["progress"]["update"] == 40
    assert temp_path(run_dir / CHECKPOINT).exists()  # the torn write, never loaded

    paused(run_dir, "checkpoint_rename", 1).kill()  # resumed from 40 again; dies renaming 60
    assert not (run_dir / CHECKPOINT).exists()
    assert read_checkpoint(run_dir / PREVIOUS)["progress"]["update"] == 40

    res = entry_point(*ARGS, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert f"{run_dir / CHECKPOINT} is missing" in out and f"resuming {run_dir} from update 40" in out
    assert_same_as(run_dir, uninterrupted)


@pytest.fixture(scope="module")
def straight_smoke(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("straight") / "run"
    return train(compose_config(["scale=smoke", "device=cpu"]), run_dir), run_dir


def _interrupt_at_45(run_smoke, monkeypatch, run_dir):
    """A smoke run stopped by SIGTERM in update 45: checkpoint.pt at 45, checkpoint.prev.pt at 30."""
    crash_at(monkeypatch, 45, lambda: os.kill(os.getpid(), signal.SIGTERM))
    assert run_smoke(run_dir=run_dir)[0]["status"] == "interrupted"
    monkeypatch.undo()


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the weights: torch.load alone would not notice
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [
    lambda p: p.write_bytes(p.read_bytes()[:len(p.read_bytes()) // 3]),
    lambda p: p.write_bytes(b"\0" * 4096),
    _flip_a_byte,
], ids=["truncated", "garbage", "one_byte_flipped"])
@pytest.mark.e2e
def test_damaged_checkpoint_falls_back_to_the_previous_one(run_smoke, monkeypatch, caplog, tmp_path,
                                                           straight_smoke, damage):
    run_dir = tmp_path / "run"
    _interrupt_at_45(run_smoke, monkeypatch, run_dir)
    damage(run_dir / CHECKPOINT)
    caplog.set_level(logging.INFO, logger="glorot_repro")
    resumed, _ = run_smoke(run_dir=run_dir)
    assert f"checkpoint {run_dir / CHECKPOINT} is damaged" in caplog.text
    assert "from update 30" in caplog.text
    straight, straight_dir = straight_smoke
    assert comparable(resumed) == comparable(straight)
    assert scalars(run_dir) == scalars(straight_dir)


@pytest.mark.e2e
def test_no_intact_checkpoint_is_an_error_naming_the_files(run_smoke, monkeypatch, tmp_path):
    run_dir = tmp_path / "run"
    _interrupt_at_45(run_smoke, monkeypatch, run_dir)
    for name in (CHECKPOINT, PREVIOUS):
        (run_dir / name).write_bytes(b"not a checkpoint")
    with pytest.raises(ResumeError) as info:
        run_smoke(run_dir=run_dir)
    message = str(info.value)
    assert "\n" not in message and "no intact checkpoint" in message
    assert str(run_dir / CHECKPOINT) in message and str(run_dir / PREVIOUS) in message


@pytest.mark.e2e
def test_failed_checkpoint_write_keeps_the_previous_checkpoint(run_smoke, monkeypatch, tmp_path):
    """The disk fills up while checkpoint 60 is written: the run stops with an error naming the
    file and the reason, and checkpoint 30 is still there, intact, to resume from."""
    run_dir = tmp_path / "run"
    real_fsync = os.fsync

    def full_disk(fd):
        if os.readlink(f"/proc/self/fd/{fd}") == str(temp_path(run_dir / CHECKPOINT)):
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    crash_at(monkeypatch, 45, lambda: monkeypatch.setattr(os, "fsync", full_disk))
    with pytest.raises(RunDirError) as info:
        run_smoke(run_dir=run_dir)
    assert f"could not write {run_dir / CHECKPOINT} (No space left on device)" in str(info.value)
    assert load_checkpoint(run_dir)["progress"]["update"] == 30
    assert not temp_path(run_dir / CHECKPOINT).exists()


def test_event_files_are_cut_back_past_a_torn_record(tmp_path):
    writer = SummaryWriter(str(tmp_path))
    for step in range(6):
        writer.add_scalar("x", float(step), step)
    writer.close()
    events, = tmp_path.glob("events.out.tfevents.*")
    with open(events, "ab") as f:
        f.write(b"\x40\0\0\0\0\0\0\0torn")  # a record the kill cut short
    drop_events_after(tmp_path, 3)
    assert scalars(tmp_path) == {"x": [(s, float(s)) for s in range(4)]}
    drop_events_after(tmp_path, -1)
    assert not list(tmp_path.glob("events.out.tfevents.*"))


@pytest.mark.e2e
def test_replicas_killed_between_their_checkpoints_resume_together(run_smoke, monkeypatch,
                                                                   tmp_path):
    """Replicas are checkpointed one after another. Killed after two of four wrote checkpoint
    60, the two ahead step back to their previous checkpoint (30), and all four end as if never
    killed."""
    replicas = ("train.replicas.seeds=[0,1]", "train.replicas.lrs=[0.03,0.1]")
    straight, _ = run_smoke(*replicas, run_dir=tmp_path / "straight")

    class Killed(Exception):
        pass

    calls = {"n": 0}
    save = glorot_repro.training.run.save_checkpoint

    def killed_at_the_seventh(*args):
        calls["n"] += 1  # 1-4: update 30; 5, 6: update 60 of the first two replicas
        if calls["n"] == 7:
            raise Killed
        return save(*args)

    monkeypatch.setattr(glorot_repro.training.run, "save_checkpoint", killed_at_the_seventh)
    with pytest.raises(Killed):
        run_smoke(*replicas, run_dir=tmp_path / "resumed")
    monkeypatch.undo()
    updates = [load_checkpoint(d)["progress"]["update"]
               for d in sorted((tmp_path / "resumed").glob("seed*"))]
    assert updates == [60, 60, 30, 30]
    resumed, _ = run_smoke(*replicas, run_dir=tmp_path / "resumed")
    assert [comparable(s) for s in resumed["replicas"]] == [comparable(s) for s in straight["replicas"]]
    for replica in ("seed0_lr0.03", "seed1_lr0.1"):
        assert scalars(tmp_path / "resumed" / replica) == scalars(tmp_path / "straight" / replica)


# ------------------------------------------------------------------------------------------------
# Resuming under another config
# ------------------------------------------------------------------------------------------------
@pytest.mark.e2e
def test_resume_with_another_config_is_refused_unless_forced(run_smoke, caplog, tmp_path):
    run_dir = tmp_path / "run"
    run_smoke("train.updates=30", run_dir=run_dir)
    with pytest.raises(ResumeError, match=r"model.width: 32 \(checkpoint\) vs 64 \(now\)"):
        run_smoke("model.width=64", run_dir=run_dir)
    with pytest.raises(ResumeError, match=r"train.lr: 0.03 \(checkpoint\) vs 0.1 \(now\); "
                                          r"train.step: lean \(checkpoint\) vs autograd \(now\)"):
        run_smoke("train.lr=0.1", "train.step=autograd", run_dir=run_dir)
    summary, _ = run_smoke("train.lr=0.1", "train.force_resume=true", run_dir=run_dir)
    assert summary["status"] == "completed" and summary["updates"] == 60
    assert "with a changed config (train.force_resume): train.lr: 0.03" in caplog.text
    with pytest.raises(ResumeError, match="does not fit this model"):
        run_smoke("model.width=64", "train.force_resume=true", run_dir=run_dir)


def test_the_numeric_path_names_the_kernel_build_or_torch():
    model = DeepMLP(8, 3, 2, 16, "tanh", "normalized")
    torch_path = LeanSGD([model], [0.1], "nll", kernel=False)
    assert numeric_path(torch_path) == "torch's products"
    assert numeric_path(GraphedSGD(torch_path, capture=False)) == "torch's products"
    assert numeric_path(AutogradSGD(model, 0.1, "nll")) == "torch's products"
    if kernels.load() is not None:
        kernel_path = LeanSGD([model], [0.1], "nll")
        assert numeric_path(kernel_path) == f"the compiled kernel ({kernels.default_isa()})"


@pytest.mark.e2e
def test_resuming_on_another_numeric_path_is_refused_unless_forced(tmp_path):
    """The first 20 updates on torch's products (GLOROT_NO_KERNEL=1), the rest on the compiled
    kernel, which sums in another order: the run would not end bit-identical to either path's
    uninterrupted one. Refused in one line naming both, the run dir left as it was; with
    train.force_resume, one warning."""
    if kernels.load() is None:
        pytest.skip("no compiled kernel on this machine: torch's products are its only path")
    kernel = f"the compiled kernel ({kernels.default_isa()})"
    run_dir = tmp_path / "run"
    where = f"hydra.run.dir={run_dir}"
    first = entry_point(*ARGS, "train.updates=20", where, cwd=tmp_path,
                        env={kernels.DISABLE_VAR: "1"})
    assert first.returncode == 0, first.stderr[-3000:]
    def files():  # but train.log, which a refused command adds its line to, and the lock's pid
        return {p.name: p.read_bytes() for p in run_dir.iterdir()
                if p.is_file() and p.name not in ("train.log", LOCK)}

    kept = files()
    assert read_checkpoint(run_dir / CHECKPOINT)["numerics"] == "torch's products"

    refused = entry_point(*ARGS, "train.updates=40", where, cwd=tmp_path)
    one_line_error(refused, f"the checkpoint in {run_dir} was computed on torch's products, this "
                            f"process runs {kernel}", "not be bit-identical",
                   "train.force_resume=true")
    assert files() == kept

    forced = entry_point(*ARGS, "train.updates=40", "train.force_resume=true", where, cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr[-3000:]
    warned = [line for line in (forced.stdout + forced.stderr).splitlines() if "WARNING" in line]
    assert len(warned) == 1, warned
    assert f"on {kernel}, computed on torch's products until now" in warned[0]
    assert "no longer bit-identical" in warned[0]
    assert read_checkpoint(run_dir / CHECKPOINT)["numerics"] == kernel
    assert read_summary(run_dir)["updates"] == 40


@pytest.mark.e2e
def test_extending_a_run_equals_running_it_longer(run_smoke, tmp_path, straight_smoke):
    """train.updates and the checkpoint cadence may change on resume: 40 updates, then on to 60,
    give the numbers and series of 60 straight."""
    run_dir = tmp_path / "run"
    run_smoke("train.updates=40", run_dir=run_dir)
    extended, _ = run_smoke("train.checkpoint_every=20", run_dir=run_dir)
    straight, straight_dir = straight_smoke
    assert comparable(extended) == comparable(straight)
    assert scalars(run_dir) == scalars(straight_dir)


@pytest.mark.e2e
def test_checkpoint_past_the_requested_updates_is_refused(run_smoke, tmp_path):
    run_dir = tmp_path / "run"
    run_smoke(run_dir=run_dir)
    with pytest.raises(ResumeError, match="stands at update 60, past train.updates=40; pass "
                                          "train.updates=60 or more"):
        run_smoke("train.updates=40", run_dir=run_dir)


# ------------------------------------------------------------------------------------------------
# 2. SIGTERM, 3. divergence in a sweep
# ------------------------------------------------------------------------------------------------
@pytest.mark.e2e
def test_sigterm_to_a_real_process_interrupts_and_resumes(tmp_path, paused, uninterrupted):
    run_dir = tmp_path / "run"
    status, output = paused(run_dir, "update", 25).stop_and_go_on()
    assert status == 1
    assert read_summary(run_dir)["status"] == "interrupted"
    assert read_summary(run_dir)["updates"] == 25
    hints = [line for line in output.splitlines() if "to resume" in line]
    assert len(hints) == 1 and f"hydra.run.dir={run_dir}" in hints[0]
    assert "Traceback" not in output
    res = entry_point(*ARGS, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert_same_as(run_dir, uninterrupted)


@pytest.mark.e2e
def test_sigterm_stops_the_whole_sweep_and_rerunning_resumes_it(tmp_path, paused):
    sweep = tmp_path / "sweep"
    args = ("-m", *ARGS, "train.lr=0.03,0.01")
    status, output = paused(sweep, "update", 25, args).stop_and_go_on()
    assert status == 1 and "Traceback" not in output
    assert f"rerun the same command with hydra.sweep.dir={sweep}" in output
    jobs = [p for p in sweep.iterdir() if p.is_dir()]
    assert len(jobs) == 1 and jobs[0].name.startswith("0_")  # the second job never started
    assert read_summary(jobs[0])["status"] == "interrupted"
    res = entry_point(*args, f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert [read_summary(j)["status"] for j in jobs] == ["completed", "completed"]


@pytest.mark.e2e
def test_a_diverging_job_lets_the_rest_of_the_sweep_finish(tmp_path):
    """lr 1e6 makes the relu net's loss inf/NaN within 10 updates; the job after it still runs."""
    sweep = tmp_path / "sweep"
    res = entry_point("-m", "scale=smoke", "device=cpu", "activation=relu", "train.lr=1e6,0.03",
                      f"hydra.sweep.dir={sweep}", "hydra.sweep.subdir=lr${train.lr}", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert read_summary(sweep / "lr1000000.0")["status"] == "diverged"
    after = read_summary(sweep / "lr0.03")
    assert after["status"] == "completed" and after["updates"] == 60


# ------------------------------------------------------------------------------------------------
# 4. Bad input
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("override,message", [
    ("train.batch_size=0", "train.batch_size must be a positive integer, got 0"),
    ("train.eval_every=-5", "train.eval_every must be a positive integer, got -5"),
    ("train.checkpoint_every=0", "train.checkpoint_every must be a positive integer, got 0"),
    ("train.updates=-1", "train.updates must be >= 0, got -1"),
    ("log.every=-1", "log.every must be >= 0 (0 turns it off), got -1"),
    ("dataset.n_valid=0", "dataset.n_valid must be a positive integer, got 0"),
    ("dataset.n_test=-2", "dataset.n_test must be a positive integer, got -2"),
    ("dataset.name=imagenet", "dataset.name='imagenet' is not valid; choose one of: shapeset, "
                              "mnist, cifar10, small_imagenet"),
])
@pytest.mark.e2e
def test_sizes_and_names_out_of_range(run_smoke, override, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run_smoke(override)


@pytest.mark.e2e
def test_batch_larger_than_the_training_set(run_smoke, tmp_path):
    fake_mnist(tmp_path / "data", n_train=600)  # 500 training examples after the valid split
    with pytest.raises(ConfigError, match=f"train.batch_size=501 is larger than the mnist training "
                                          f"set \\(500 examples under {tmp_path / 'data'}\\); use "
                                          f"at most 500"):
        run_smoke("dataset=mnist", f"dataset.root={tmp_path / 'data'}", "train.batch_size=501")


def test_shapeset_minibatch_larger_than_a_generation_chunk():
    """Shapeset is an endless stream: a minibatch above its 1000-image chunks is served whole."""
    cfg = compose_config(["scale=smoke", "device=cpu"])
    stream = build_data(cfg.dataset, torch.device("cpu"), 1500).new_stream(0)
    for _ in range(2):
        x, y = stream.next_batch(1500)
        assert x.shape == (1500, 1024) and y.shape == (1500,)


@pytest.mark.e2e
def test_unwritable_output_dir_one_line(tmp_path):
    (tmp_path / "afile").write_text("a file, not a dir: unwritable even for root")
    for mode, key in (("hydra.run.dir", []), ("hydra.sweep.dir", ["-m"])):
        target = tmp_path / "afile" / "run"
        res = entry_point(*key, "scale=smoke", f"{mode}={target}", cwd=tmp_path)
        one_line_error(res, f"cannot write the output dir {target} (Not a directory)", mode)


@pytest.mark.e2e
def test_truncated_dataset_file_one_line(tmp_path):
    raw = fake_mnist(tmp_path / "data")
    images = raw / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:1000])
    res = entry_point("scale=smoke", "dataset=mnist", f"dataset.root={tmp_path / 'data'}",
                      f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    one_line_error(res, str(images), "truncated", "IDX")


@pytest.mark.e2e
def test_changed_config_on_resume_one_line(tmp_path, uninterrupted):
    run_dir = tmp_path / "run"
    shutil.copytree(uninterrupted, run_dir)
    res = entry_point(*ARGS, "model.depth=3", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    one_line_error(res, "model.depth: 5 (checkpoint) vs 3 (now)", "train.force_resume=true")
