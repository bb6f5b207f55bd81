"""TensorBoard event files of a run dir: the single source of truth for what was measured."""
from __future__ import annotations

from pathlib import Path

from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from torch.utils.tensorboard import SummaryWriter

EVENTS_GLOB = "events.out.tfevents.*"


def drop_events_from(run_dir: Path, step: int) -> int:
    """Remove the summaries logged at `step` or later from the run dir's event files.

    A run killed after its last checkpoint logged steps that its resumed segment logs again.
    TensorBoard's purge_step hides them only from readers that honour it, so the files are rewritten
    (with TensorBoard's own reader and writer) to hold each step once. Returns events dropped."""
    dropped = 0
    for path in sorted(Path(run_dir).glob(EVENTS_GLOB)):
        # The raw loader keeps events as written (the plain one migrates scalars to tensors).
        events = [Event.FromString(raw) for raw in RawEventFileLoader(str(path)).Load()]
        kept = [e for e in events if not (e.HasField("summary") and e.step >= step)]
        if len(kept) == len(events):
            continue
        dropped += len(events) - len(kept)
        if any(e.HasField("summary") for e in kept):
            writer = EventFileWriter(str(run_dir), filename_suffix=".kept")
            for event in kept:
                if not event.HasField("file_version"):  # the writer starts with its own
                    writer.add_event(event)
            writer.close()
        path.unlink()
    return dropped


def open_writer(run_dir: Path, start_step: int) -> SummaryWriter:
    """A SummaryWriter for a run (re)starting at `start_step`, with later steps cleared first."""
    drop_events_from(run_dir, start_step)
    return SummaryWriter(str(run_dir))


def log_scalars(writer: SummaryWriter, scalars: dict[str, float], step: int) -> None:
    for tag, value in scalars.items():
        writer.add_scalar(tag, value, step)


def log_histograms(writer: SummaryWriter, histograms: dict, step: int) -> None:
    """Histograms binned on the device (stats.histogram), written as TensorBoard's raw form."""
    for tag, h in histograms.items():
        writer.add_histogram_raw(tag, min=h.min, max=h.max, num=h.num, sum=h.sum,
                                 sum_squares=h.sum_squares, bucket_limits=h.edges[1:],
                                 bucket_counts=h.counts, global_step=step)
