"""Verifying and repairing one TensorBoard event file, record by record.

Records are TFRecords: u64 length, u32 masked crc32c of the length, the data (an Event proto),
u32 masked crc32c of the data. TensorBoard's reader stops at the first record that fails a
check, so one damaged record hides every record after it; here each record is checked on its own,
the intact ones are kept, and the file is rewritten without the damaged ones."""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf.message import DecodeError
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

from glorot_repro.rundir.checkpoint import write_atomic

EVENTS_GLOB = "events.out.tfevents.*"
# Ends the name of every event file a run writes, so that a run dir without a checkpoint of ours
# tells our event files (a run killed before its first checkpoint) from anyone else's.
SUFFIX = ".glorot_repro"

HEADER = 12  # length and its crc
FOOTER = 4  # the data's crc


@dataclass
class Damage:
    """A damaged stretch of an event file, placed by the steps of the intact summaries around it
    (None: it is the file's first or last; its own step is unreadable)."""
    before: int | None
    after: int | None = None

    def steps(self) -> str:
        if self.before is None and self.after is None:
            return "no intact step around it"
        if self.before == self.after:
            return f"step {self.before}"
        if self.after is None:
            return f"after step {self.before}"
        if self.before is None:
            return f"before step {self.after}"
        return f"steps {self.before}-{self.after}"


@dataclass
class Scan:
    """What an event file holds, as checked against `step` (the last step a checkpoint vouches
    for; records past it are logged again by the resumed run)."""
    keep: list[tuple[int, int]] = field(default_factory=list)  # byte ranges of records to keep
    kept_summaries: int = 0
    damaged: list[Damage] = field(default_factory=list)  # records that failed a check
    torn: Damage | None = None  # a last record cut short (a kill or a full disk while writing)


def frame(data: bytes, pos: int) -> tuple[str, int]:
    """The record at `pos`: ("ok", its end), ("bad_data", its end) when only the data's crc
    fails (the length is trustworthy, so the next record starts at the end), or ("unframed", 0)
    when its length is damaged or runs past the end of the file."""
    if pos + HEADER + FOOTER > len(data):
        return "unframed", 0
    length_bytes = data[pos:pos + 8]
    if struct.unpack("<I", data[pos + 8:pos + HEADER])[0] != masked_crc32c(length_bytes):
        return "unframed", 0
    end = pos + HEADER + struct.unpack("<Q", length_bytes)[0] + FOOTER
    if end > len(data):
        return "unframed", 0
    crc = struct.unpack("<I", data[end - FOOTER:end])[0]
    if crc != masked_crc32c(data[pos + HEADER:end - FOOTER]):
        return "bad_data", end
    return "ok", end


def next_record(data: bytes, pos: int) -> int | None:
    """The first offset from `pos` where an intact record starts: framing lost at a damaged
    length is found again there."""
    for start in range(pos, len(data) - HEADER - FOOTER + 1):
        if frame(data, start)[0] == "ok":
            return start
    return None


def scan(data: bytes, step: int) -> Scan:
    out = Scan()
    last_step = None  # of the last intact summary
    pending: list[Damage] = []  # damage waiting for the step after it
    pos = 0
    while pos < len(data):
        status, end = frame(data, pos)
        event = None
        if status == "ok":
            try:
                event = Event.FromString(data[pos + HEADER:end - FOOTER])
            except DecodeError:  # intact bytes that are no Event: damage all the same
                pass
        if event is not None:
            if event.HasField("summary"):
                for d in pending:
                    d.after = event.step
                pending = []
                last_step = event.step
                if event.step <= step:
                    out.keep.append((pos, end))
                    out.kept_summaries += 1
            else:  # the file's header event
                out.keep.append((pos, end))
            pos = end
            continue
        if status == "unframed":
            end = next_record(data, pos + 1)
            if end is None:  # nothing intact after it: a torn tail
                out.torn = Damage(last_step)
                break
        out.damaged.append(Damage(last_step))
        pending.append(out.damaged[-1])
        pos = end
    return out


def repair(path: Path, step: int, keep_empty: bool = False) -> str | None:
    """Cut the event file at `path` back to its intact records of `step` or earlier (deleting it
    if no summary is left, unless `keep_empty`) and return one line saying what was lost to
    damage, or None if nothing was. Damage past `step` is not reported: the resumed run logs
    those steps again."""
    data = path.read_bytes()
    found = scan(data, step)
    if not found.kept_summaries and not keep_empty:
        os.unlink(path)  # nothing left worth reading
    elif found.keep and found.keep[0][0] == 0 and all(
            a == b for (_, a), (b, _) in zip(found.keep, found.keep[1:])):
        if found.keep[-1][1] < len(data):  # a cut tail only: one truncation, never half done
            os.truncate(path, found.keep[-1][1])
    else:
        write_atomic(path, b"".join(data[a:b] for a, b in found.keep))
    lost = [d for d in found.damaged if d.before is None or d.before <= step]
    torn = found.torn if found.torn and (found.torn.before is None or found.torn.before <= step) \
        else None
    if not lost and not torn:
        return None
    parts = []
    if lost:
        parts.append(f"{len(lost)} damaged record{'s' * (len(lost) > 1)} dropped "
                     f"({', '.join(d.steps() for d in lost)})")
    if torn:
        parts.append(f"a torn last record cut ({torn.steps()})")
    return (f"event file {path}: {' and '.join(parts)}; its other {found.kept_summaries} "
            f"summaries up to step {step} are kept")
