"""Training streams: an endless supply of minibatches whose position can be saved and restored
exactly, so a resumed run sees the same examples as an uninterrupted one."""
from __future__ import annotations

import torch

from glorot_repro.data.shapeset import Shapeset3x2
from glorot_repro.errors import ResumeError

SHAPESET_CHUNK = 1000  # images generated at a time (the minimum; a larger minibatch gets its size)


class ShapesetStream:
    """Online Shapeset-3x2 (paper Sec. 2.1): every example is fresh, never reused.

    Images are generated `chunk` at a time (vectorised generation is far cheaper per image in bulk)
    and served in order; the state is the generator's state at the chunk's start plus the offset."""

    def __init__(self, seed: int, device: torch.device, signed: bool, chunk: int = SHAPESET_CHUNK):
        self.gen = Shapeset3x2(seed=seed, device=device)
        self.signed = signed
        self.chunk = chunk
        self.chunk_state = self.gen.get_state()
        self.x = self.y = None
        self.pos = 0

    def _refill(self) -> None:
        self.chunk_state = self.gen.get_state()
        images, self.y = self.gen.sample(self.chunk)
        self.x = to_inputs(images.flatten(1), self.signed)
        self.pos = 0

    def next_batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.x is None or self.pos + n > self.chunk:
            self._refill()
        batch = self.x[self.pos:self.pos + n], self.y[self.pos:self.pos + n]
        self.pos += n
        return batch

    def state_dict(self) -> dict:
        return {"chunk_state": self.chunk_state, "pos": self.pos, "started": self.x is not None,
                "device": self.gen.device.type}

    def load_state_dict(self, state: dict) -> None:
        saved = state.get("device", self.gen.device.type)  # checkpoints before it was saved: as now
        if saved != self.gen.device.type:
            raise ResumeError(
                f"this run's Shapeset examples were drawn on {saved} and it now runs on "
                f"{self.gen.device.type}, whose random generator draws other ones (its validation "
                f"and test sets too); resume it with device={saved}")
        self.gen.set_state(state["chunk_state"])
        if state["started"]:
            self._refill()
            self.pos = state["pos"]


class TensorStream:
    """A finite training set in memory: each epoch a fresh permutation, batches by index
    (no DataLoader: at minibatch 10 its per-batch overhead would dominate)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, seed: int):
        self.x, self.y, self.seed = x, y, seed
        self.epoch, self.pos = 0, 0
        self.perm = self._permutation(0)

    def _permutation(self, epoch: int) -> torch.Tensor:
        # Derived from (seed, epoch) alone, so the state to save is two integers.
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(len(self.x), generator=g).to(self.x.device)

    def next_batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.pos + n > len(self.x):
            self.epoch, self.pos = self.epoch + 1, 0
            self.perm = self._permutation(self.epoch)
        idx = self.perm[self.pos:self.pos + n]
        self.pos += n
        return self.x[idx], self.y[idx]

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "pos": self.pos}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.pos = state["epoch"], state["pos"]
        self.perm = self._permutation(self.epoch)


def to_inputs(pixels: torch.Tensor, signed: bool) -> torch.Tensor:
    """Pixels in [0,1] -> network inputs: as they are, or 2x-1 in [-1,1] (dataset.signed_pixels)."""
    return pixels * 2 - 1 if signed else pixels


def input_bounds(signed: bool) -> tuple[float, float]:
    """Where to_inputs' values live."""
    return (-1.0, 1.0) if signed else (0.0, 1.0)
