"""A run's summary.json: what a finished (or stopped) run says about itself (the keys
docs/tags.md lists)."""
from __future__ import annotations

import json
from pathlib import Path

from glorot_repro.rundir.checkpoint import write_atomic

SUMMARY = "summary.json"


def write_summary(run_dir: Path, summary: dict) -> None:
    write_atomic(run_dir / SUMMARY, (json.dumps(summary, indent=2) + "\n").encode())


def read_summary(run_dir: Path) -> dict | None:
    """The run dir's summary.json, or None where there is none to go by (absent, unreadable)."""
    try:
        summary = json.loads((run_dir / SUMMARY).read_text())
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None
