"""Fig. 5's cost surfaces, computed directly: each grid point is the net's cost with the two
chosen weights set to that point's values."""
import pytest
import torch

from glorot_repro.analysis.surfaces import cost_surface, random_problem, two_layer_net
from glorot_repro.nets.losses import cost


@pytest.mark.parametrize("loss", ["nll", "quadratic"])
def test_surface_points_are_the_net_cost(loss):
    problem = dict(n_examples=50, n_inputs=4, n_hidden=3, n_classes=2, seed=3)
    surface = cost_surface(loss, span=2.0, points=5, **problem)
    x, y = random_problem(50, 4, 2, 3)
    net = two_layer_net(4, 3, 2, 3)
    with torch.no_grad():
        net.layers[0].weight[0, 0] = surface.w1[1]
        net.layers[1].weight[0, 0] = surface.w2[4]
        assert surface.cost[1, 4].item() == pytest.approx(cost(net(x), y, loss).item(), rel=1e-12)


def test_quadratic_cost_is_bounded_where_cross_entropy_is_not():
    # 1/2 ||softmax - onehot||^2 <= 1 everywhere: its surface flattens far from the optimum,
    # while -log P(y|x) keeps growing (Sec. 5's plateaus).
    quadratic, nll = cost_surface("quadratic"), cost_surface("nll")
    assert quadratic.cost.max() <= 1.0
    assert nll.cost.max() - nll.cost.min() > 3 * (quadratic.cost.max() - quadratic.cost.min())
