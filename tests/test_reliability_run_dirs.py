"""Run dirs that nothing can corrupt: one process per run dir, event files verified record by
record, stacks with a diverged replica, foreign content, stops during pre-training."""
import json
import logging
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tensorboard.compat.proto.event_pb2 import Event
from torch.utils.tensorboard import SummaryWriter

import glorot_repro.training.run
from glorot_repro.command.compose import compose_config
from glorot_repro.errors import ResumeError
from glorot_repro.measure.tblog import SUFFIX
from glorot_repro.rundir.checkpoint import CHECKPOINT, PREVIOUS, load_checkpoint
from glorot_repro.rundir.events import FOOTER, HEADER, frame, repair
from glorot_repro.rundir.lock import LOCK
from glorot_repro.rundir.provenance import save_config
from glorot_repro.train import train

from conftest import (ARGS, comparable, entry_point, faulty_entry_point, histograms, one_line_error,
                      read_summary, scalars)

EVENTS = "events.out.tfevents.*"


def run_args(*overrides: str, updates: int = 40) -> list[str]:
    """ARGS, stopped at 40 updates by default: checkpoints at 20 and 40."""
    return [*ARGS, f"train.updates={updates}", *overrides]


@pytest.fixture(scope="module")
def at_40(tmp_path_factory):
    """run_args() straight through, in-process: the reference of a run killed and resumed, and
    a run dir whose every event is vouched for by its checkpoint (at 40)."""
    run_dir = tmp_path_factory.mktemp("at_40") / "run"
    train(compose_config(run_args()), run_dir)
    return run_dir


def assert_same_as(run_dir: Path, reference: Path) -> None:
    """The same numbers and series as the reference, no step missing and none twice. Values
    only up to float rounding: part of the run was computed in a subprocess, part in pytest's
    process, whose BLAS may sum in another order (other tests change its thread count)."""
    assert comparable(read_summary(run_dir)) == comparable(read_summary(reference))
    logged, expected = scalars(run_dir), scalars(reference)
    assert {t: [s for s, _ in v] for t, v in logged.items()} == \
        {t: [s for s, _ in v] for t, v in expected.items()}
    for tag, series in expected.items():
        assert [v for _, v in logged[tag]] == pytest.approx([v for _, v in series], rel=1e-4,
                                                             abs=1e-6), tag


def points(run_dir) -> set:
    """Every logged point, as (tag, step, value or bucket counts)."""
    logged = {(tag, s, v) for tag, series in scalars(run_dir).items() for s, v in series}
    return logged | {(tag, s, tuple(c))
                     for tag, series in histograms(run_dir).items() for s, c in series}


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def warnings_from(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno >= logging.WARNING and r.name.startswith("glorot_repro")]


# ------------------------------------------------------------------------------------------------
# One process per run dir
# ------------------------------------------------------------------------------------------------
@pytest.mark.e2e
def test_a_second_process_on_a_live_run_dir_is_refused_and_a_killed_holder_blocks_nothing(
        tmp_path, paused, at_40):
    run_dir = tmp_path / "run"
    first = paused(run_dir, "update", 25, run_args())  # live: checkpoint 20 on disk, events to 24
    before = snapshot(run_dir)
    second = entry_point(*run_args(), f"hydra.run.dir={run_dir}", cwd=tmp_path)
    one_line_error(second, f"{run_dir} is in use by another training process "
                            f"(pid {first.proc.pid})")
    assert snapshot(run_dir) == before  # the refused process read and wrote nothing there
    assert "scale=smoke" in (run_dir / ".hydra" / "overrides.yaml").read_text()
    first.kill()  # its lock goes with it
    train(compose_config(run_args()), run_dir)
    assert_same_as(run_dir, at_40)


@pytest.mark.e2e
def test_two_processes_started_together_on_one_run_dir_run_once(tmp_path):
    """train.updates=0: evaluated and probed at initialisation, which both would log."""
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "glorot_repro.train", *ARGS, "train.updates=0",
               f"hydra.run.dir={run_dir}"]
    procs = [subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    codes = [p.returncode for p in procs]
    assert sorted(codes) == [0, 2], outputs
    winner, loser = (0, 1) if codes[0] == 0 else (1, 0)
    out = "".join(outputs[loser])
    errors = [line for line in out.splitlines() if "error: " in line]
    assert errors == [f"error: {run_dir} is in use by another training process (pid "
                      f"{procs[winner].pid}); wait for it to end, or pick another hydra.run.dir"]
    assert "Traceback" not in out
    logged = {tag: [s for s, _ in series] for tag, series in scalars(run_dir).items()}
    assert logged["error/valid"] == [0] and logged["act/layer1/mean"] == [0]
    assert all(steps == [0] for steps in logged.values())  # each once


# ------------------------------------------------------------------------------------------------
# Event files verified on resume
# ------------------------------------------------------------------------------------------------
def records(path: Path) -> list[tuple[int, int, Event]]:
    """(start, end, event) of each record of an intact event file."""
    data, pos, out = path.read_bytes(), 0, []
    while pos < len(data):
        status, end = frame(data, pos)
        assert status == "ok"
        out.append((pos, end, Event.FromString(data[pos + HEADER:end - FOOTER])))
        pos = end
    return out


def _flip(data: bytearray, start: int, n: int) -> None:
    for i in range(start, start + n):
        data[i] ^= 0xFF


@pytest.mark.parametrize("damage", ["four_length_bytes", "one_data_byte", "truncated_mid_record"])
@pytest.mark.e2e
def test_damaged_event_records_are_dropped_and_the_intact_ones_kept(tmp_path, at_40, caplog,
                                                                    damage):
    """A record in the middle of the event file is damaged. Resuming drops it alone (framing is
    found again past a damaged length) and says so in one line; every intact record stays
    readable by TensorBoard's reader. A file cut mid-record loses the tail, with the same line."""
    run_dir = tmp_path / "run"
    shutil.copytree(at_40, run_dir)
    path, = run_dir.glob(EVENTS)
    summaries = [r for r in records(path) if r[2].HasField("summary")]
    start, end, victim = summaries[len(summaries) // 2]
    data = bytearray(path.read_bytes())
    if damage == "four_length_bytes":
        _flip(data, start, 4)
    elif damage == "one_data_byte":
        _flip(data, (start + HEADER + end - FOOTER) // 2, 1)
    else:
        del data[(start + end) // 2:]
    path.write_bytes(bytes(data))
    caplog.set_level(logging.INFO, logger="glorot_repro")

    train(compose_config(run_args()), run_dir)  # resumes at 40: logs nothing
    lost, = warnings_from(caplog)
    if damage == "truncated_mid_record":  # the records from the victim on are gone from disk
        assert lost.startswith(f"event file {path}: a torn last record cut (after step ")
        survivors = summaries[:len(summaries) // 2]
    else:
        assert lost.startswith(f"event file {path}: 1 damaged record dropped (")
        assert str(victim.step) in lost
        survivors = [r for r in summaries if r[2] is not victim]
    intact = {(r[2].summary.value[0].tag, r[2].step) for r in survivors}
    assert points(run_dir) == {p for p in points(at_40) if (p[0], p[1]) in intact}


def test_repair_drops_each_damaged_record_and_reports_what_is_lost(tmp_path):
    """Damage up to the checkpoint's step is reported; damage past it is cut silently, since
    the resumed run logs those steps again."""
    writer = SummaryWriter(str(tmp_path), filename_suffix=SUFFIX)
    for step in range(10):
        writer.add_scalar("x", float(step), step)
    writer.close()
    path, = tmp_path.glob(EVENTS)
    starts = [start for start, _, _ in records(path)]  # the header, then steps 0..9
    data = bytearray(path.read_bytes())
    _flip(data, starts[3] + HEADER, 1)  # step 2's data
    _flip(data, starts[6], 4)  # step 5's length
    _flip(data, starts[10] + HEADER, 1)  # step 9's data: past the checkpoint
    path.write_bytes(bytes(data) + b"\x10\0\0")  # and a torn record after it
    assert repair(path, 7) == (f"event file {path}: 2 damaged records dropped (steps 1-3, "
                               f"steps 4-6); its other 6 summaries up to step 7 are kept")
    assert scalars(tmp_path) == {"x": [(s, float(s)) for s in (0, 1, 3, 4, 6, 7)]}
    assert repair(path, 7) is None  # now intact
    repair(path, -1, keep_empty=True)  # a file the checkpoint names stays, with its header
    assert [e.HasField("summary") for _, _, e in records(path)] == [False]
    repair(path, -1)
    assert not path.exists()


@pytest.mark.e2e
def test_an_event_file_deleted_behind_its_checkpoint_is_reported(tmp_path, at_40, caplog):
    run_dir = tmp_path / "run"
    shutil.copytree(at_40, run_dir)
    path, = run_dir.glob(EVENTS)
    path.unlink()
    caplog.set_level(logging.INFO, logger="glorot_repro")
    assert train(compose_config(run_args(updates=60)), run_dir)["status"] == "completed"
    assert warnings_from(caplog) == [
        f"{path} is missing behind the checkpoint at update 40 in {run_dir}: its steps up to 40 "
        f"are lost from the logs"]
    assert {s for series in scalars(run_dir).values() for s, _ in series} == {60}


# From update 25 on the disk is full: every event write fails (TensorBoard's writer appends
# through LocalFileSystem.append), and so does every write of train.log, whose descriptor now
# writes to /dev/full (the kernel answers ENOSPC).
DISK_FULL_AT_25 = """
import os
from tensorboard.compat.tensorflow_stub.io.gfile import LocalFileSystem
from glorot_repro.data.streams import ShapesetStream

next_batch, calls = ShapesetStream.next_batch, [0]


def full(*args, **kwargs):
    raise OSError(28, "No space left on device")


def filling_next_batch(self, k):
    calls[0] += 1
    if calls[0] == 25:
        LocalFileSystem.append = full
        dev_full = os.open("/dev/full", os.O_WRONLY)
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:  # the listing's own descriptor, closed since
                continue
            if target.endswith("train.log"):
                os.dup2(dev_full, int(fd))
    return next_batch(self, k)


ShapesetStream.next_batch = filling_next_batch
"""


@pytest.mark.e2e
def test_a_full_disk_under_the_event_writer_and_the_log_ends_the_run_in_one_line(tmp_path):
    """Probes and histograms every 10 updates: the writes that fail first are theirs. The one
    line, and no traceback of train.log's failed writes after it; the rerun resumes from 20."""
    run_dir = tmp_path / "run"
    args = run_args("log.every=10", "log.histograms=10")
    res = faulty_entry_point(DISK_FULL_AT_25, *args, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    one_line_error(res, f"could not write the event files in {run_dir} (No space left on device)")
    assert load_checkpoint(run_dir)["progress"]["update"] == 20
    train(compose_config(args), run_dir)
    train(compose_config(args), tmp_path / "straight")
    assert_same_as(run_dir, tmp_path / "straight")


# The event files cannot be cut or deleted (as under `chattr +i`): os.truncate and os.unlink
# refuse them as the kernel would.
IMMUTABLE_EVENT_FILES = """
import errno, os

for name in ("truncate", "unlink"):
    def refused(path, *args, _real=getattr(os, name), **kwargs):
        if "tfevents" in os.fspath(path):
            raise PermissionError(errno.EPERM, os.strerror(errno.EPERM), os.fspath(path))
        return _real(path, *args, **kwargs)
    setattr(os, name, refused)
"""


@pytest.mark.e2e
def test_an_event_file_the_resume_cannot_cut_ends_in_one_line_and_keeps_everything(
        tmp_path, paused, at_40):
    """Killed halfway through writing checkpoint 40, the run resumes from 20 and must cut the
    event file's steps 21-40 first. An event file it may not cut ends the command in one line
    naming it, with the checkpoints and event file as they were; once it may, the rerun ends as
    if never killed."""
    run_dir = tmp_path / "run"
    paused(run_dir, "checkpoint_write", 2, run_args()).kill()
    kept = {k: v for k, v in snapshot(run_dir).items() if "tfevents" in k or "checkpoint" in k}
    events, = run_dir.glob(EVENTS)
    res = faulty_entry_point(IMMUTABLE_EVENT_FILES, *run_args(), f"hydra.run.dir={run_dir}",
                             cwd=tmp_path)
    one_line_error(res, f"could not cut the event file {events} back to step 20 (Operation not "
                        f"permitted)", "rerun the same command")
    assert {k: v for k, v in snapshot(run_dir).items() if k in kept} == kept
    train(compose_config(run_args()), run_dir)
    assert_same_as(run_dir, at_40)


# ------------------------------------------------------------------------------------------------
# A stack with a diverged replica
# ------------------------------------------------------------------------------------------------
@pytest.mark.e2e
def test_a_stack_killed_after_a_replica_diverged_before_any_checkpoint_resumes(tmp_path,
                                                                              monkeypatch):
    """lr 1e6 makes a relu net diverge by update 10, before the first checkpoint (20); the stack
    is killed writing checkpoint 40, its last. The diverged replica keeps its summary; the other
    resumes from 20 and ends as if never killed."""
    stack = run_args("activation=relu", "train.replicas.lrs=[1e6,0.03]")
    straight = train(compose_config(stack), tmp_path / "straight")

    class Killed(Exception):
        pass

    save, calls = glorot_repro.training.run.save_checkpoint, []

    def killed_at_the_second(*args):
        calls.append(args)
        if len(calls) == 2:
            raise Killed
        return save(*args)

    monkeypatch.setattr(glorot_repro.training.run, "save_checkpoint", killed_at_the_second)
    with pytest.raises(Killed):
        train(compose_config(stack), tmp_path / "resumed")
    monkeypatch.undo()
    diverged, live = (tmp_path / "resumed" / d for d in ("seed0_lr1e+06", "seed0_lr0.03"))
    assert read_summary(diverged)["status"] == "diverged"
    assert load_checkpoint(diverged) is None and load_checkpoint(live)["progress"]["update"] == 20
    kept = snapshot(diverged)

    resumed = train(compose_config(stack), tmp_path / "resumed")
    assert [s["status"] for s in resumed["replicas"]] == ["diverged", "completed"]
    assert snapshot(diverged) == kept
    assert comparable(resumed["replicas"][1]) == comparable(straight["replicas"][1])
    assert scalars(live) == scalars(tmp_path / "straight" / "seed0_lr0.03")


# ------------------------------------------------------------------------------------------------
# Foreign content
# ------------------------------------------------------------------------------------------------
@pytest.mark.e2e
def test_a_run_dir_with_someone_elses_event_file_and_summary_is_refused(tmp_path, caplog):
    run_dir = tmp_path / "theirs"
    writer = SummaryWriter(str(run_dir))
    writer.add_scalar("their/loss", 1.0, 7)
    writer.close()
    (run_dir / "summary.json").write_text(json.dumps({"theirs": True}))
    theirs, = run_dir.glob(EVENTS)
    before = snapshot(run_dir)
    with pytest.raises(ResumeError) as info:
        train(compose_config(run_args(updates=20)), run_dir)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{run_dir} holds files glorot-repro did not write ({theirs.name}, "
                              f"summary.json) and no checkpoint of its own")
    assert "train.force_resume=true" in message
    assert {k: v for k, v in snapshot(run_dir).items() if k != ".glorot_repro.rundir.lock"} == before

    caplog.set_level(logging.INFO, logger="glorot_repro")
    forced = train(compose_config(run_args("train.force_resume=true", updates=20)), run_dir)
    assert forced["status"] == "completed"
    assert theirs.read_bytes() == before[theirs.name]  # their event file is kept
    assert any("train.force_resume" in w for w in warnings_from(caplog))


@pytest.mark.e2e
@pytest.mark.e2e
def test_a_finished_run_without_its_checkpoints_is_refused_not_replaced(tmp_path, caplog):
    """A completed run whose checkpoints were deleted, rerun in its dir with another lr: refused
    in one line like a foreign dir, its summary and event file kept; train.force_resume starts
    over, with one warning."""
    run_dir = tmp_path / "run"
    where = f"hydra.run.dir={run_dir}"
    done = entry_point(*run_args(updates=20), where, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    for name in (CHECKPOINT, PREVIOUS):
        (run_dir / name).unlink(missing_ok=True)
    before = snapshot(run_dir)
    res = entry_point(*run_args("train.lr=0.1", updates=20), where, cwd=tmp_path)
    one_line_error(res, f"{run_dir} holds a finished run (summary.json: completed) and no "
                        f"checkpoint", "train.force_resume=true")
    after = snapshot(run_dir)
    assert after.pop("train.log").startswith(before.pop("train.log"))  # the refusal is added
    after.pop(LOCK), before.pop(LOCK)  # its holder's pid
    assert after == before

    caplog.set_level(logging.INFO, logger="glorot_repro")
    forced = train(compose_config(run_args("train.lr=0.1", "train.force_resume=true",
                                           updates=20)), run_dir)
    assert forced["status"] == "completed"
    assert read_summary(run_dir) != json.loads(before["summary.json"])
    warned, = warnings_from(caplog)
    assert "over a finished one (summary.json: completed)" in warned


def test_a_foreign_checkpoint_is_refused_in_one_line(tmp_path):
    run_dir = tmp_path / "theirs"
    run_dir.mkdir()
    torch.save({"state_dict": {"w": torch.zeros(3)}, "epoch": 4}, run_dir / CHECKPOINT)
    before = snapshot(run_dir)
    with pytest.raises(ResumeError) as info:
        train(compose_config(run_args(updates=20)), run_dir)
    assert str(info.value).startswith(f"{run_dir / CHECKPOINT} was not written by glorot-repro")
    assert "\n" not in str(info.value) and "train.force_resume=true" in str(info.value)
    assert {k: v for k, v in snapshot(run_dir).items() if k != ".glorot_repro.rundir.lock"} == before
    forced = train(compose_config(run_args("train.force_resume=true", updates=20)), run_dir)
    assert forced["status"] == "completed"
    assert torch.load(run_dir / PREVIOUS, weights_only=False)["epoch"] == 4  # replaced, not lost


@pytest.mark.e2e
def test_a_refused_resume_leaves_the_runs_config_as_it_was(tmp_path, at_40):
    run_dir = tmp_path / "run"
    shutil.copytree(at_40, run_dir)
    save_config(compose_config(run_args()), run_dir)  # as the entry point would have
    hydra = snapshot(run_dir / ".hydra")
    assert "depth: 5" in hydra["config.yaml"].decode()
    res = entry_point(*ARGS, "model.depth=3", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    one_line_error(res, "model.depth: 5 (checkpoint) vs 3 (now)")
    assert snapshot(run_dir / ".hydra") == hydra


# ------------------------------------------------------------------------------------------------
# Stops during pre-training
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl_c"])
@pytest.mark.e2e
def test_a_stop_during_pretraining_ends_in_one_line(tmp_path, paused, signum):
    """Stopped in its 5th pre-training update, the run ends interrupted, without a checkpoint
    (pre-training keeps none) and with one line saying the rerun starts it over."""
    run_dir = tmp_path / "run"
    args = run_args("pretrain=dae")
    p = paused(run_dir, "update", 5, args)
    status, output = p.stop_and_go_on(signum)
    assert status == 1, output[-3000:]
    assert "Traceback" not in output
    warned = [line for line in output.splitlines() if "[WARNING]" in line or "[ERROR]" in line]
    assert len(warned) == 1 and "interrupted during pre-training" in warned[0]
    assert f"hydra.run.dir={run_dir}" in warned[0]
    assert read_summary(run_dir)["status"] == "interrupted"
    assert not (run_dir / CHECKPOINT).exists()
    if signum == signal.SIGTERM:  # the rerun pre-trains again; no step is logged twice
        assert train(compose_config(args), run_dir)["status"] == "completed"
        logged = scalars(run_dir)
        assert [s for s, _ in logged["pretrain/layer1/reconstruction"]] == [5, 10]
        assert [s for s, _ in logged["error/valid"]] == [50, 70, 90]
