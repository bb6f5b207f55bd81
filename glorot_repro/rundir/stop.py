"""Ctrl-C and SIGTERM as a request the training loop reads between updates."""
from __future__ import annotations

import signal


class StopRequest:
    """SIGINT/SIGTERM set a flag that the loop reads between updates, so a stop never lands in
    the middle of an SGD step and the checkpoint written on the way out is consistent.
    A second Ctrl-C stops at once."""

    def __init__(self):
        self.requested = False
        self.previous = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self.previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
