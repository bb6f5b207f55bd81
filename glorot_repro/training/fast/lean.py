"""The training step without autograd, for K >= 1 models of one architecture at once: backprop's
four equations (glorot_repro/nets/backprop.py) with each layer's SGD update fused into the backward pass.

Why fused: at minibatch 10 an update is a chain of thin matrix products, and a plain loop spends
as much again on memory traffic around them: writing a gradient tensor for each of the ~5M
weights, then reading it back in the optimizer. Here no gradient tensor, optimizer state or
autograd graph is made. delta^{l-1} is computed from the old W^l before W^l moves, so this is
exactly plain SGD on each model's mean cost (tests hold it equal to autograd + torch.optim.SGD).

Why deferred: one SGD step moves W^l by a rank-B matrix, -lr/B * delta^l^T z^{l-1} (BP4). Writing
it into W^l at once costs a read and a write of every weight, on top of the forward's and the
backward's reads: a third pass over the weights each update, at a CPU's thin-product speed. So the last j < `defer` steps are kept as factors D (jB x out) and Z (jB x in), with
W_eff = W - D^T Z, and folded into the products that read W:
    forward   z W_eff^T = z W^T - (z Z^T) D        backward (BP2)   d W_eff = d W - (d D^T) Z
both cheap next to z W^T while jB is small. Every `defer` steps one rank-(defer*B) product writes
them into W. A layer whose factors would be no smaller than W itself (the 9-unit output layer) is
written at once. The sums are the same, only their order changes: equal to immediate SGD up to
rounding (tested in float64). Anything that reads the weights (evaluation, probes, checkpoints)
calls sync() first. Measured gain: scripts/bench.py --defer 1 against the default
(docs/performance.md).

Why stacked: K models (seeds, learning rates) share every kernel launch as one batched matmul,
which is what fills a GPU at minibatch 10. The models' parameters become views into the stacks,
so each DeepMLP still evaluates, probes and checkpoints on its own.

Why a compiled kernel: on a CPU, BLAS runs the 10-row products that read each weight matrix (the
forward, BP2) at a fraction of the speed of streaming the weights; glorot_repro/training/fast/kernels does them
in one pass over each weight row, for the whole stack in one call. It is used for CPU float32 and
float64 wherever it loads (kernel=True, the default); elsewhere, on a GPU, or with kernel=False or
GLOROT_NO_KERNEL=1, the same step runs on torch's products alone. The rank-jB writes of sync()
are a product large enough for BLAS; the kernel takes them only in its AVX-512 build, which beat
torch's BLAS there (write_kernel below)."""
from __future__ import annotations

import torch
from torch import nn

from glorot_repro.nets.activations import ACTIVATIONS_IN_PLACE, DERIVATIVES_OF_OUTPUT
from glorot_repro.nets.backprop import output_delta
from glorot_repro.nets.losses import example_costs
from glorot_repro.nets.model import DeepMLP
from glorot_repro.training.fast import kernels


class LeanSGD:
    def __init__(self, models: list[DeepMLP], lrs: list[float], loss: str, defer: int = 1,
                 kernel: bool | str = True):
        if defer < 1:
            raise ValueError(f"defer must be >= 1 (1 = write each update at once), got {defer}")
        first = models[0]
        self.f, self.loss = first.f, loss
        self.f_ = ACTIVATIONS_IN_PLACE.get(first.activation_name)  # None: only out of place
        self.fprime = DERIVATIVES_OF_OUTPUT[first.activation_name]
        weight = first.output.weight
        self.lr = torch.tensor(lrs, dtype=weight.dtype, device=weight.device).view(-1, 1, 1)
        self.weights, self.biases = [], []  # per layer: (K, out, in) and (K, 1, out)
        for l in range(len(first.layers)):
            w = torch.stack([m.layers[l].weight.detach() for m in models])
            b = torch.stack([m.layers[l].bias.detach() for m in models]).unsqueeze(1)
            for k, m in enumerate(models):
                m.layers[l].weight = nn.Parameter(w[k])
                m.layers[l].bias = nn.Parameter(b[k, 0])
            self.weights.append(w)
            self.biases.append(b)
        self.defer = defer
        # Per deferred layer l: D (K, defer*B, out) and Z (K, defer*B, in); None where the layer
        # is written at once (its factors would be no smaller than W: the 9-unit output layer).
        self.pending_d: list[torch.Tensor | None] = []
        self.pending_z: list[torch.Tensor | None] = []
        self.batch = 0  # B, the buffers' minibatch size
        self.capacity = 0  # rows of D and Z: defer * B (B when no layer is deferred)
        self.rows = 0  # rows pending: j steps of B examples
        # The compiled products (glorot_repro/training/fast/kernels), or None: torch's. kernel: True for the
        # machine's default build, or an instruction set's name ("avx2", "avx512").
        usable = weight.device.type == "cpu" and weight.dtype in (torch.float32, torch.float64)
        isa = kernel if isinstance(kernel, str) else kernels.default_isa()
        self.kernel = kernels.load(isa) if kernel and usable else None
        self.isa = isa if self.kernel is not None else None  # the kernel's build, or torch's path
        # sync()'s rank-jB writes, a product large enough for BLAS: on one core of an AMD EPYC
        # (rank 100, 1000x1000) the AVX-512 build ran it at 139 GFLOP/s against torch's 92, the
        # AVX2 build at 69; so only the AVX-512 build takes them.
        self.write_kernel = self.kernel if isa == "avx512" else None

    @property
    def pending(self) -> bool:
        """Whether some steps are not yet written into the weights."""
        return self.rows > 0

    def _make_buffers(self, batch: int) -> None:
        self.sync()
        self.batch, rows = batch, self.defer * batch
        self.lr_per_example = self.lr / batch  # each model's step on its mean cost's gradient
        self.pending_d, self.pending_z = [], []
        for w in self.weights:
            k, out, inp = w.shape
            deferred = self.defer > 1 and rows * (out + inp) < out * inp
            self.pending_d.append(w.new_empty(k, rows, out) if deferred else None)
            self.pending_z.append(w.new_empty(k, rows, inp) if deferred else None)
        deferring = any(d is not None for d in self.pending_d)
        self.capacity = rows if deferring else batch
        # Per step j of the cycle and layer l: the rows of D and Z that step j fills. The kernel
        # writes delta^l into D's rows and, where they are contiguous (a lone model's) and the
        # activation has an in-place form, z^l into Z's: the step then copies neither. Elsewhere
        # an activation runs on a fresh tensor, as its vectorised loop may round a
        # non-contiguous tensor's row ends otherwise (a stacked model must equal its lone run).
        def rows_of(buffers, j, contiguous=False):
            views = [None if b is None else b[:, j * batch:(j + 1) * batch] for b in buffers]
            return [v if v is None or not contiguous or v.is_contiguous() else None for v in views]
        in_place = self.kernel is not None and self.f_ is not None
        steps = range(self.capacity // batch)
        self.slots_d = [rows_of(self.pending_d, j) if self.kernel is not None
                        else [None] * len(self.weights) for j in steps]
        self.slots_z = [rows_of(self.pending_z, j, contiguous=True) if in_place
                        else [None] * len(self.weights) for j in steps]

    def _factors(self, l: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Layer l's pending D and Z, or None when nothing of it is pending."""
        if self.rows == 0 or self.pending_d[l] is None:
            return None
        return self.pending_d[l][:, :self.rows], self.pending_z[l][:, :self.rows]

    @torch.no_grad()
    def sync(self) -> None:
        """Write the pending steps into the weights (one rank-jB product per deferred layer)."""
        for l in range(len(self.weights)):
            factors = self._factors(l)
            if factors is None:
                continue
            self._write(l, *factors, kernel=self.write_kernel)
        self.rows = 0

    @torch.no_grad()
    def step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One update of every model k on its minibatch (x[k], y[k]); x is (K, B, inputs).
        Returns each model's mean cost before the update (K,) and its logits (K, B, classes)."""
        batch = x.shape[1]
        if batch != self.batch:
            self._make_buffers(batch)
        if self.kernel is not None:
            x = x.contiguous()  # the kernel reads rows as vectors
        depth = len(self.weights)
        slots_d, slots_z = self.slots_d[self.rows // batch], self.slots_z[self.rows // batch]
        inputs, z = [x], x
        for l in range(depth):
            out = slots_z[l + 1] if l < depth - 1 else None
            s = self._forward(l, z, out)
            z = s if l == depth - 1 else self.f_(s) if out is not None else self.f(s)
            inputs.append(z)
        logits = inputs.pop()
        value = example_costs(logits, y, self.loss).mean(dim=1)
        # The gradient of each model's mean cost w.r.t. its logits, times its learning rate: every
        # delta below is then already the step to take (the equations are linear in delta).
        delta = output_delta(logits, y, self.loss).mul_(self.lr_per_example)
        new = slice(self.rows, self.rows + batch)
        for l in reversed(range(depth)):
            below = None
            if l:  # BP2 with the weights before this step
                below = self._backward(l, delta, slots_d[l - 1]).mul_(self.fprime(inputs[l]))
            self.biases[l].sub_(delta.sum(dim=1, keepdim=True))  # BP3 + SGD step
            if self.pending_d[l] is None:  # BP4 + SGD step, at once: W -= delta^T z
                self._write(l, delta, inputs[l])
            else:  # ... or pending (unless already written in place)
                if slots_d[l] is None or l == depth - 1:
                    self.pending_d[l][:, new] = delta
                if slots_z[l] is None or l == 0:  # the forward fills layers 1.. only
                    self.pending_z[l][:, new] = inputs[l]
            delta = below
        self.rows += batch
        if self.rows == self.capacity:
            self.sync()
        return value, logits

    def _forward(self, l: int, z: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """s = b + z W_eff^T, with W_eff^T = W^T - Z^T D; into `out` if given (kernel only)."""
        w, b, factors = self.weights[l], self.biases[l], self._factors(l)
        if self.kernel is None:
            s = torch.baddbmm(b, z, w.transpose(1, 2))
        else:
            shape = (z.shape[0], z.shape[1], w.shape[1])
            s = b.expand(*shape).clone() if out is None else out.copy_(b.expand(*shape))
            self.kernel.nt(s, z, w, True, False)
        if factors is not None:
            d, zs = factors
            self._correct(s, z, zs, d)
        return s

    def _backward(self, l: int, delta: torch.Tensor,
                  out: torch.Tensor | None = None) -> torch.Tensor:
        """BP2 before the activation's derivative: delta W_eff = delta W - (delta D^T) Z; into
        `out` if given (kernel only)."""
        w, factors = self.weights[l], self._factors(l)
        if self.kernel is None:
            below = torch.bmm(delta, w)
        else:
            below = delta.new_empty(delta.shape[0], delta.shape[1], w.shape[2]) if out is None \
                else out
            self.kernel.nn(below, delta, w, False, False)
        if factors is not None:
            d, zs = factors
            self._correct(below, delta, d, zs)
        return below

    def _correct(self, out: torch.Tensor, a: torch.Tensor, first: torch.Tensor,
                 second: torch.Tensor) -> None:
        """The pending steps' share of a product with W_eff = W - D^T Z: out -= (a first^T) second
        (forward: first, second = Z, D; BP2: D, Z)."""
        if self.kernel is None:
            out.baddbmm_(torch.bmm(a, first.transpose(1, 2)), second, alpha=-1)
        else:
            t = a.new_empty(a.shape[0], a.shape[1], first.shape[1])
            self.kernel.nt(t, a, first, False, False)
            self.kernel.nn(out, t, second, True, True)

    def _write(self, l: int, delta: torch.Tensor, z: torch.Tensor, kernel="step") -> None:
        """W -= delta^T z: one step, or sync()'s pending ones, on `kernel` (the step's by default;
        None: torch's)."""
        kernel = self.kernel if kernel == "step" else kernel
        if kernel is None:
            self.weights[l].baddbmm_(delta.transpose(1, 2), z, alpha=-1)
        else:
            kernel.nn(self.weights[l], delta.transpose(1, 2), z, True, True)
