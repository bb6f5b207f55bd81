"""TensorBoard event files of a run dir: the single source of truth for what was measured."""
from __future__ import annotations

import os
import struct
from pathlib import Path

from google.protobuf.message import DecodeError
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c
from torch.utils.tensorboard import SummaryWriter

from glorot_repro.checkpoint import fsync_path
from glorot_repro.errors import RUN_DIR_HINT, RunDirError

EVENTS_GLOB = "events.out.tfevents.*"


def drop_events_after(run_dir: Path, step: int) -> None:
    """Cut the run dir's event files back to the summaries logged at `step` or earlier.

    A run killed after its last checkpoint logged steps that its resumed segment logs again.
    TensorBoard's purge_step hides them only from readers that honour it, so they are cut out of
    the files. Each segment writes its own file in step order, so what goes is a file's tail, and
    one truncation removes it: a kill during the cut never leaves a step twice."""
    for path in sorted(Path(run_dir).glob(EVENTS_GLOB)):
        data = path.read_bytes()
        end, has_summaries = _intact_prefix(data, step)
        if not has_summaries:
            path.unlink()  # nothing left worth reading
        elif end < len(data):
            os.truncate(path, end)


def _intact_prefix(data: bytes, step: int) -> tuple[int, bool]:
    """How many leading bytes of an event file hold whole, intact records of `step` or earlier,
    and whether a summary is among them. A record torn by a kill ends the prefix too.

    Records are TFRecords: u64 length, u32 masked crc32c of the length, data, u32 crc of the data.
    Only the length's crc is checked (the data's, in pure Python, would take seconds per MB): a
    damaged length is what would make the rest unframeable."""
    pos, has_summaries = 0, False
    while pos + 12 <= len(data):
        length_bytes = data[pos:pos + 8]
        if struct.unpack("<I", data[pos + 8:pos + 12])[0] != masked_crc32c(length_bytes):
            break
        end = pos + 12 + struct.unpack("<Q", length_bytes)[0] + 4
        if end > len(data):
            break
        try:
            event = Event.FromString(data[pos + 12:end - 4])
        except DecodeError:
            break
        if event.HasField("summary"):
            if event.step > step:
                break
            has_summaries = True
        pos = end
    return pos, has_summaries


def open_writer(run_dir: Path, last_saved: int) -> SummaryWriter:
    """A SummaryWriter for a run (re)starting after update `last_saved` (-1: from scratch), with
    what a killed segment logged after that update cut first."""
    drop_events_after(run_dir, last_saved)
    return SummaryWriter(str(run_dir))


def sync_events(writer: SummaryWriter, run_dir: Path) -> None:
    """Put every event logged so far on disk. Called before each checkpoint: a checkpoint at
    update u promises the events up to u, which a resumed run does not log again."""
    try:
        writer.flush()
        for path in Path(run_dir).glob(EVENTS_GLOB):
            fsync_path(path)
    except OSError as err:
        raise RunDirError(f"could not write the event files in {run_dir} ({err.strerror or err}); "
                          f"{RUN_DIR_HINT}") from err


def log_scalars(writer: SummaryWriter, scalars: dict[str, float], step: int) -> None:
    for tag, value in scalars.items():
        writer.add_scalar(tag, value, step)


def log_histograms(writer: SummaryWriter, histograms: dict, step: int) -> None:
    """Histograms binned on the device (stats.histogram), written as TensorBoard's raw form.
    TensorBoard draws a histogram from its min to its max: both are the fixed range's ends (the
    values beyond it sit in the end bins), so every histogram of a quantity shares one axis."""
    for tag, h in histograms.items():
        writer.add_histogram_raw(tag, min=h.edges[0], max=h.edges[-1], num=h.num, sum=h.sum,
                                 sum_squares=h.sum_squares, bucket_limits=h.edges[1:],
                                 bucket_counts=h.counts, global_step=step)
