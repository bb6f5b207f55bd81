"""CUDA graphs for the lean step: one whole SGD update of a stack of K models as one replay.

Why: at minibatch 10 a lean update (glorot_repro/training/fast/lean.py) is about 10 kernels per layer, each
short; on a GPU the host's launches, not the card, set the pace. Captured once into a CUDA graph,
an update is one launch, and the host runs ahead of the card.

What is captured: LeanSGD.step on static buffers (`static_x`, `static_y`), the exact op sequence
of an eager step, nothing else. step(x, y) copies the minibatch into those buffers (a
device-to-device copy: on CUDA the Shapeset streams draw their chunks on the device, and the
trainer's minibatch is slices of them stacked there) and replays. Per update there is no host
sync: no .item(), no branch on a tensor's value, and every allocation the step makes lives in the
graph's private pool, the same addresses at each replay. What stays outside: drawing a new chunk
of Shapeset images every 1000/B updates per stream (its rejection loop branches on values),
divergence checks (one host sync every train.check_every updates), evaluation, probes and
checkpoints, all at their usual cadence in train.py.

Deferred updates (train.defer > 1): which factor rows an eager step reads and writes, and whether
it ends by writing them into the weights, depend on LeanSGD.rows, Python state that a replay
cannot change. So each phase of the cycle is captured as its own graph: phase j runs with
j*B rows pending, and the last phase ends with the write (LeanSGD.sync's products). step() picks
the graph for the current phase and sets `rows` to what the eager step would have left. An
outside sync() (before an evaluation, say) runs eagerly and sets rows to 0: the next replay is
phase 0, as the eager step would be. Each graph has its own memory pool, so no replay can
overwrite what another graph keeps (its outputs); the cost is one set of the step's temporaries
per phase (a few activations of (K, B, width) each: megabytes).

The tensors step() returns are the graph's outputs: the next replay of the same phase overwrites
them. The trainer reads them at once (its on-device window sums); anything that keeps them must
clone them.

Warm-up: the first steps after a (re)start run eagerly on the stream the graphs are captured
on (a side stream, as CUDA graph capture requires: libraries set up their per-stream workspaces
there, and the lean step allocates its factor buffers): WARMUP of them, and at least one per
phase plus one. Then every phase is captured, and replayed from then on. A change of minibatch
shape starts over.

Without CUDA (capture=False), the same wrapper runs each phase's ops eagerly on its static
buffers, with the Python state managed exactly as around a replay: this is what the CPU tests
hold equal to LeanSGD.step, bit for bit.

`maybe_graphed` is the trainer's one call: train.cuda_graphs=auto captures on CUDA with the lean
step, `on` insists (an error where it cannot), `off` never does."""
from __future__ import annotations

import logging
from typing import Callable

import torch

from glorot_repro.config import TrainConf
from glorot_repro.errors import ConfigError
from glorot_repro.training.fast.lean import LeanSGD

log = logging.getLogger("glorot_repro.training.fast.graphs")
WARMUP = 3  # eager steps before capture (PyTorch's own examples warm up with 3)

Outputs = tuple[torch.Tensor, torch.Tensor]


def can_capture(device: torch.device) -> bool:
    """Whether CUDA graphs can be captured on `device`."""
    return device.type == "cuda" and torch.cuda.is_available()


class GraphedSGD:
    """LeanSGD whose every step is one CUDA graph replay; same interface: step(x, y) ->
    (losses (K,), logits (K, B, classes)), sync(), pending. See the module's docstring."""

    def __init__(self, lean: LeanSGD, capture: bool | None = None, warmup: int = WARMUP,
                 strict: bool = False):
        if warmup < 1:  # the first step of a shape makes LeanSGD's buffers: never in a graph
            raise ValueError(f"warmup must be >= 1, got {warmup}")
        device = lean.weights[0].device
        self.capture = can_capture(device) if capture is None else capture
        if self.capture and not can_capture(device):
            raise ValueError(f"CUDA graphs need a CUDA device; the models are on {device}")
        self.lean, self.warmup, self.strict, self.device = lean, warmup, strict, device
        self.stream = torch.cuda.Stream(device) if self.capture else None
        self.static_x: torch.Tensor | None = None
        self.static_y: torch.Tensor | None = None
        self._start_over()

    def _start_over(self) -> None:
        self.eager_left = self.warmup
        self.eager_steps = 0  # since the start (over)
        self.graphs: list = []  # per phase (graph, its outputs): keeps them and their pools alive
        self.replays: list[Callable[[], Outputs]] | None = None  # per phase
        self.rows_after: list[int] = []  # per phase: LeanSGD.rows once its step is done

    @property
    def pending(self) -> bool:
        return self.lean.pending

    @property
    def captured(self) -> bool:
        """Whether steps are now graph replays."""
        return bool(self.graphs)

    def sync(self) -> None:
        self.lean.sync()

    def step(self, x: torch.Tensor, y: torch.Tensor) -> Outputs:
        if (self.static_x is None or x.shape != self.static_x.shape
                or y.shape != self.static_y.shape or x.dtype != self.static_x.dtype):
            self.static_x, self.static_y = torch.empty_like(x), torch.empty_like(y)
            self._start_over()
        self.static_x.copy_(x)
        self.static_y.copy_(y)
        if self.eager_left:
            self.eager_left -= 1
            self.eager_steps += 1
            out = self._eager()
            if self.eager_steps == 1:  # now the buffers are made: warm up through every phase
                self.eager_left = max(self.eager_left, self.lean.capacity // self.lean.batch)
            return out
        if self.replays is None:
            self._record()
        lean = self.lean
        phase = lean.rows // lean.batch
        out = self.replays[phase]()
        lean.rows = self.rows_after[phase]
        return out

    def _eager(self) -> Outputs:
        if not self.capture:
            return self.lean.step(self.static_x, self.static_y)
        here = torch.cuda.current_stream(self.device)
        self.stream.wait_stream(here)
        with torch.cuda.stream(self.stream):
            out = self.lean.step(self.static_x, self.static_y)
        here.wait_stream(self.stream)
        for t in out:  # made on the side stream, read on this one
            t.record_stream(here)
        return out

    def _phase(self, j: int) -> Outputs:
        """Phase j's step: the ops a replay runs, eagerly."""
        self.lean.rows = j * self.lean.batch
        return self.lean.step(self.static_x, self.static_y)

    def _record(self) -> None:
        """One replay per phase of the deferred-update cycle, and the rows each leaves."""
        lean = self.lean
        phases = lean.capacity // lean.batch
        self.rows_after = [0 if (j + 1) * lean.batch == lean.capacity else (j + 1) * lean.batch
                           for j in range(phases)]
        if not self.capture:  # the same ops, run eagerly at each "replay"
            self.replays = [lambda j=j: self._phase(j) for j in range(phases)]
            return
        rows = lean.rows
        try:
            replays = []
            for j in range(phases):
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph, stream=self.stream):
                    out = self._phase(j)  # recorded, not run: no weight moves here
                if lean.rows != self.rows_after[j]:
                    raise RuntimeError(f"phase {j} left {lean.rows} rows pending, "
                                       f"expected {self.rows_after[j]}")
                self.graphs.append((graph, out))
                replays.append(_replayer(graph, out))
        except Exception as err:
            self.graphs = []
            if self.strict:
                raise
            log.warning("CUDA graphs: capturing the lean step failed (%s: %s); it runs eagerly "
                        "instead (train.cuda_graphs=off says so without trying)",
                        type(err).__name__, err)
            self.capture = False
            replays = [lambda j=j: self._phase(j) for j in range(phases)]
        finally:
            lean.rows = rows
        self.replays = replays


def _replayer(graph, out: Outputs) -> Callable[[], Outputs]:
    def replay() -> Outputs:
        graph.replay()
        return out
    return replay


def check_mode(tc: TrainConf, device: torch.device) -> None:
    """ConfigError where train.cuda_graphs=on cannot be honoured: before any run dir is made
    (callbacks.CheckAtStart) and again where the step is built."""
    if tc.cuda_graphs != "on":
        return
    if tc.step != "lean":
        raise ConfigError("train.cuda_graphs=on captures the lean step; use train.step=lean, "
                          "or train.cuda_graphs=auto|off with train.step=autograd")
    if not can_capture(device):
        raise ConfigError(f"train.cuda_graphs=on needs a CUDA device, and this run is on "
                          f"{device}; use train.cuda_graphs=auto or off")


def maybe_graphed(sgd, tc: TrainConf, device: torch.device):
    """The trainer's SGD update, as CUDA graph replays where train.cuda_graphs asks for them:
    `auto` on a CUDA device with train.step=lean, `on` there or an error, `off` never."""
    check_mode(tc, device)
    mode = tc.cuda_graphs
    if mode == "off" or not isinstance(sgd, LeanSGD) or not can_capture(device):
        return sgd
    log.info("CUDA graphs: on (train.cuda_graphs=%s); each update of the %d model(s) is one "
             "graph replay (one graph per phase of train.defer=%d), captured after %d or more "
             "eager updates", mode, sgd.weights[0].shape[0], sgd.defer, WARMUP)
    return GraphedSGD(sgd, capture=True, strict=mode == "on")
