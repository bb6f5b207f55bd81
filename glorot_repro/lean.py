"""The training step without autograd: backprop's four equations (glorot_repro/backprop.py) with
each layer's SGD update fused into the backward pass.

Why: at minibatch 10 an update is a chain of thin matrix products, and the plain loop spends as
much again on memory traffic around them: writing a gradient tensor for each of the ~5M weights,
then reading it back in the optimizer. Here each W^l <- W^l - lr * delta^l^T z^{l-1} is one
in-place addmm (BP4 and the update at once): no gradient tensors, no optimizer state, no autograd
graph. delta^{l-1} is computed from the old W^l before W^l moves, so the step is exactly
plain SGD on the mean cost (tests hold it equal to autograd + torch.optim.SGD)."""
from __future__ import annotations

import torch

from glorot_repro.activations import DERIVATIVES
from glorot_repro.backprop import output_delta
from glorot_repro.losses import cost
from glorot_repro.model import DeepMLP


class LeanSGD:
    def __init__(self, model: DeepMLP, lr: float, loss: str):
        self.model, self.lr, self.loss = model, lr, loss
        self.fprime = DERIVATIVES[model.activation_name]

    @torch.no_grad()
    def step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One update on the minibatch (x, y); returns the loss before it, and the logits."""
        layers = self.model.layers
        inputs, pre, z = [x], [], x
        for layer in self.model.hidden:
            s = torch.addmm(layer.bias, z, layer.weight.T)
            z = self.model.f(s)
            pre.append(s)
            inputs.append(z)
        logits = torch.addmm(self.model.output.bias, z, self.model.output.weight.T)
        value = cost(logits, y, self.loss)
        delta = output_delta(logits, y, self.loss).div_(len(x))  # gradient of the mean cost
        for l in reversed(range(len(layers))):
            below = (delta @ layers[l].weight).mul_(self.fprime(pre[l - 1])) if l else None  # BP2
            layers[l].weight.addmm_(delta.T, inputs[l], alpha=-self.lr)  # BP4 + SGD step
            layers[l].bias.sub_(delta.sum(0), alpha=self.lr)  # BP3 + SGD step
            delta = below
        return value, logits
