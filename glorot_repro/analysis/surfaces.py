"""Fig. 5: the training cost as a function of two weights, one in each layer of a net with one
tanh hidden layer, on random data. Sec. 5's point: the quadratic cost has far larger plateaus
than the cross-entropy (-log P(y|x)), so SGD started on one barely moves.

Computed directly (no training): every other weight stays at its normalized-init value, the
two chosen weights, W1[0, 0] (input 0 to hidden unit 0) and W2[0, 0] (hidden unit 0 to class
0), sweep a square grid, and the mean cost over the data is evaluated at each grid point."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from glorot_repro.nets.losses import example_costs
from glorot_repro.nets.model import DeepMLP


@dataclass
class CostSurface:
    w1: torch.Tensor  # (points,): values of the first-layer weight W1[0, 0]
    w2: torch.Tensor  # (points,): values of the output-layer weight W2[0, 0]
    cost: torch.Tensor  # (points, points): mean cost, indexed [w1 index, w2 index]


def random_problem(n_examples: int, n_inputs: int, n_classes: int, seed: int):
    """Standard-normal inputs with uniformly random labels (the paper's 'random data')."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n_examples, n_inputs, generator=g, dtype=torch.float64)
    y = torch.randint(0, n_classes, (n_examples,), generator=g)
    return x, y


def two_layer_net(n_inputs: int, n_hidden: int, n_classes: int, seed: int) -> DeepMLP:
    torch.manual_seed(seed)
    return DeepMLP(n_inputs, n_classes, 1, n_hidden, "tanh", "normalized").double()


@torch.no_grad()
def cost_surface(loss: str, span: float = 6.0, points: int = 41, n_examples: int = 200,
                 n_inputs: int = 10, n_hidden: int = 10, n_classes: int = 2,
                 seed: int = 0) -> CostSurface:
    """The mean `loss` ("nll" or "quadratic") over a grid of [-span, span]^2 for (W1[0, 0],
    W2[0, 0]): the weight from input 0 to hidden unit 0 and from hidden unit 0 to class 0.

    All grid points at once: moving one weight shifts one pre-activation column by
    (new - old) * its input, so the net's forward pass is redone only where it changes."""
    x, y = random_problem(n_examples, n_inputs, n_classes, seed)
    net = two_layer_net(n_inputs, n_hidden, n_classes, seed)
    first, second = net.layers  # nn.Linear weights are (out, in): W1[i, j] is weight[j, i]
    grid = torch.linspace(-span, span, points, dtype=torch.float64)
    s = first(x).expand(points, -1, -1).clone()  # (w1 value, example, hidden unit)
    s[:, :, 0] += (grid - first.weight[0, 0]).view(-1, 1) * x[:, 0]
    z = net.f(s)
    logits = second(z).unsqueeze(1).repeat(1, points, 1, 1)  # (w1, w2, example, class)
    logits[..., 0] += (grid - second.weight[0, 0]).view(1, -1, 1) * z[:, None, :, 0]
    costs = example_costs(logits, y.expand(points, points, -1), loss).mean(dim=-1)
    return CostSurface(grid, grid.clone(), costs)
