"""The training step without autograd, for K >= 1 models of one architecture at once: backprop's
four equations (glorot_repro/backprop.py) with each layer's SGD update fused into the backward pass.

Why fused: at minibatch 10 an update is a chain of thin matrix products, and a plain loop spends
as much again on memory traffic around them: writing a gradient tensor for each of the ~5M
weights, then reading it back in the optimizer. Here each W^l <- W^l - lr * delta^l^T z^{l-1} is
one in-place batched matmul (BP4 and the update at once): no gradient tensors, no optimizer state,
no autograd graph. delta^{l-1} is computed from the old W^l before W^l moves, so this is exactly
plain SGD on each model's mean cost (tests hold it equal to autograd + torch.optim.SGD).

Why stacked: K models (seeds, learning rates) share every kernel launch as one batched matmul,
which is what fills a GPU at minibatch 10. The models' parameters become views into the stacks,
so each DeepMLP still evaluates, probes and checkpoints on its own."""
from __future__ import annotations

import torch
from torch import nn

from glorot_repro.activations import DERIVATIVES
from glorot_repro.backprop import output_delta
from glorot_repro.losses import example_costs
from glorot_repro.model import DeepMLP


class LeanSGD:
    def __init__(self, models: list[DeepMLP], lrs: list[float], loss: str):
        first = models[0]
        self.f, self.fprime, self.loss = first.f, DERIVATIVES[first.activation_name], loss
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

    @torch.no_grad()
    def step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One update of every model k on its minibatch (x[k], y[k]); x is (K, B, inputs).
        Returns each model's mean cost before the update (K,) and its logits (K, B, classes)."""
        inputs, pre, z = [x], [], x
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            s = torch.baddbmm(b, z, w.transpose(1, 2))
            z = self.f(s)
            pre.append(s)
            inputs.append(z)
        logits = torch.baddbmm(self.biases[-1], z, self.weights[-1].transpose(1, 2))
        value = example_costs(logits, y, self.loss).mean(dim=1)
        # The gradient of each model's mean cost w.r.t. its logits, times its learning rate: every
        # delta below is then already the step to take (the equations are linear in delta).
        delta = output_delta(logits, y, self.loss).mul_(self.lr / x.shape[1])
        for l in reversed(range(len(self.weights))):
            below = torch.bmm(delta, self.weights[l]).mul_(self.fprime(pre[l - 1])) if l else None  # BP2
            self.weights[l].baddbmm_(delta.transpose(1, 2), inputs[l], alpha=-1)  # BP4 + SGD step
            self.biases[l].sub_(delta.sum(dim=1, keepdim=True))  # BP3 + SGD step
            delta = below
        return value, logits
