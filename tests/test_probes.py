"""Probes held against references: the lecture's explicit backprop, autograd, finite differences,
closed-form variances (eqs. 5-6, 13-15), the paper's at-init numbers, and the event files."""
import math

import numpy as np
import pytest
import torch
from tbparse import SummaryReader

from glorot_repro.data.shapeset import shapeset_splits
from glorot_repro.measure.probes import (layer_internals, layer_jacobians, minibatch_wgrad_std,
                                         probe_histograms, probe_scalars)
from glorot_repro.measure.stats import histogram, mean_singular_value
from glorot_repro.measure.theory import predict_variances
from glorot_repro.nets.activations import ACTIVATIONS, VALUE_RANGES
from glorot_repro.nets.backprop import backprop
from glorot_repro.nets.losses import LOSSES, cost
from glorot_repro.nets.model import DeepMLP


def tiny_net(activation, seed=0, init="normalized"):
    torch.manual_seed(seed)
    model = DeepMLP(6, 4, depth=3, width=5, activation=activation, init=init).double()
    for layer in model.layers:  # nonzero biases, so the bias equations are exercised too
        torch.nn.init.uniform_(layer.bias, -0.5, 0.5)
    x = torch.rand(7, 6, dtype=torch.float64)
    y = torch.randint(0, 4, (7,))
    return model, x, y


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_explicit_backprop_equals_autograd_and_probes(activation, loss):
    model, x, y = tiny_net(activation)
    ref = backprop(model, x, y, loss)
    # Autograd on the same mean cost.
    model.zero_grad()
    cost(model(x), y, loss).backward()
    for layer, gw, gb in zip(model.layers, ref.weight_grads, ref.bias_grads):
        torch.testing.assert_close(gw, layer.weight.grad)
        torch.testing.assert_close(gb, layer.bias.grad)
    # The probes' per-example deltas and mean-cost weight gradients.
    probe = layer_internals(model, x, y, loss)
    for ours, theirs in zip(probe.grad, ref.delta):
        torch.testing.assert_close(ours, theirs)
    for ours, theirs in zip(probe.wgrad, ref.weight_grads):
        torch.testing.assert_close(ours, theirs)
    for ours, theirs in zip(probe.act, ref.act):
        torch.testing.assert_close(ours, theirs)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "softsign"])
def test_explicit_backprop_equals_finite_differences(activation):
    model, x, y = tiny_net(activation, seed=1)
    ref = backprop(model, x, y, "nll")
    h = 1e-6
    rng = np.random.default_rng(0)
    for l, layer in enumerate(model.layers):
        for _ in range(4):
            i, j = rng.integers(layer.weight.shape[0]), rng.integers(layer.weight.shape[1])
            with torch.no_grad():
                w0 = layer.weight[i, j].item()
                layer.weight[i, j] = w0 + h
                up = cost(model(x), y, "nll").item()
                layer.weight[i, j] = w0 - h
                down = cost(model(x), y, "nll").item()
                layer.weight[i, j] = w0
            assert (up - down) / (2 * h) == pytest.approx(ref.weight_grads[l][i, j].item(),
                                                          rel=1e-5, abs=1e-9)


def test_delta_is_the_per_example_gradient_wrt_preactivation():
    """delta^l row i = dC_i/ds^l_i: perturb one pre-activation of one example by hand."""
    model, x, y = tiny_net("tanh", seed=2)
    ref = backprop(model, x, y, "nll")
    i, k, h = 3, 2, 1e-6

    def cost_of_example_with_bump(bump):
        z = model.f(x[i:i + 1] @ model.hidden[0].weight.T + model.hidden[0].bias)
        s = z @ model.hidden[1].weight.T + model.hidden[1].bias
        s = s + bump * torch.nn.functional.one_hot(torch.tensor([k]), s.shape[1])
        z = model.f(s)
        z = model.f(z @ model.hidden[2].weight.T + model.hidden[2].bias)
        return cost(model.output(z), y[i:i + 1], "nll").item()

    fd = (cost_of_example_with_bump(h) - cost_of_example_with_bump(-h)) / (2 * h)
    assert fd == pytest.approx(ref.delta[1][i, k].item(), rel=1e-5)


def test_lecture_logistic_regression_example_through_backprop():
    """docs/paper.md §4's worked example as layer 1 of a DeepMLP, in the project's own
    backprop: w0 x0 = -2, w1 x1 = 6, s = 1, y_hat = 0.73, dy_hat/ds = 0.20, dy_hat/dw0 = -0.20,
    dy_hat/dw1 = -0.39 (w0=2, x0=-1, w1=-3, x1=-2, w2=-3 the bias). Whatever dC/dz^1 = g the
    softmax layer above sends down, BP2-BP4 must give dC/ds^1 = 0.20 g, dC/dW^1 = (-0.20 g,
    -0.39 g) and dC/db^1 = 0.20 g."""
    model = DeepMLP(2, 2, depth=1, width=1, activation="sigmoid", init="standard").double()
    with torch.no_grad():
        model.hidden[0].weight.copy_(torch.tensor([[2.0, -3.0]]))
        model.hidden[0].bias.fill_(-3.0)
        model.output.weight.copy_(torch.tensor([[1.0], [-1.0]]))
        model.output.bias.zero_()
    x, y = torch.tensor([[-1.0, -2.0]], dtype=torch.float64), torch.tensor([0])
    bp = backprop(model, x, y)
    assert bp.pre[0].item() == 1.0 and round(bp.act[0].item(), 2) == 0.73
    logits = model(x)
    g = ((logits.softmax(-1) - torch.tensor([[1.0, 0.0]], dtype=torch.float64))
         @ model.output.weight).item()  # dC/dz^1 for NLL
    assert round(bp.delta[0].item() / g, 2) == 0.20
    assert [round(v / g, 2) for v in bp.weight_grads[0].flatten().tolist()] == [-0.20, -0.39]
    assert round(bp.bias_grads[0].item() / g, 2) == 0.20


def test_layer_jacobian_matches_autograd_and_svd():
    model, x, _ = tiny_net("softsign", seed=3)
    _, pre, act = model(x, internals=True)
    jacs = layer_jacobians(model, [s.detach() for s in pre], examples=2)
    for l in range(1, 3):  # J^l = dz^{l+1}/dz^l
        for e in range(2):
            ref = torch.autograd.functional.jacobian(
                lambda z: model.f(model.hidden[l](z)), act[l - 1][e].detach())
            torch.testing.assert_close(jacs[l - 1][e], ref)
    expected = np.mean([np.linalg.svd(j.numpy(), compute_uv=False).mean() for j in jacs[0]])
    assert mean_singular_value(jacs[0]) == pytest.approx(expected)


def test_histogram_counts_everything_on_fixed_bins():
    t = torch.tensor([-5.0, -1.0, -0.3, 0.0, 0.0, 0.3, 0.99, 7.0])
    h = histogram(t, -1.0, 1.0, bins=5)
    assert sum(h.counts) == 8 and h.num == 8
    assert h.counts == [2.0, 1.0, 2.0, 1.0, 2.0]  # -5 and 7 land in the end bins
    assert (h.min, h.max) == (-5.0, 7.0) and h.sum == pytest.approx(t.sum().item())
    assert h.sum_squares == pytest.approx(t.double().pow(2).sum().item())
    assert h.edges == pytest.approx([-1.0, -0.6, -0.2, 0.2, 0.6, 1.0])


def test_theory_closed_forms():
    """Equal widths: consecutive back-propagated variances differ by n Var[W]: 1/3 with standard
    init (eq. 15), 1 with normalized init (eq. 13); weight-gradient variance flat (eq. 14)."""
    sizes = [1000] * 6
    std = predict_variances("tanh", "standard", sizes, 1.0, 1.0, 1.0)
    nrm = predict_variances("tanh", "normalized", sizes, 1.0, 1.0, 1.0)
    for l in range(4):
        assert std.grad[l] / std.grad[l + 1] == pytest.approx(1 / 3)
        assert nrm.grad[l] == pytest.approx(1.0) and nrm.act[l] == pytest.approx(1.0)
        assert std.act[l + 1] / std.act[l] == pytest.approx(1 / 3)
    # Eq. 14: Var[z^{l-1}] Var[ds^l] = (1/3)^{l-1} (1/3)^{D-l}: the same for every l.
    assert std.wgrad == pytest.approx([std.wgrad[0]] * 5)
    # Unequal widths: the backward factor is n_k Var[W^k] with n_k the layer's fan-out.
    p = predict_variances("tanh", "standard", [10, 20, 40], 1.0, 1.0, 1.0)
    assert p.grad[0] == pytest.approx(40 * (1 / (3 * 20)))


def test_theory_matches_measurement_in_the_linear_regime():
    """Tiny centred inputs keep tanh linear, where eqs. 5 and 6 hold: measured per-layer variances
    agree with the prediction (widths 400: sampling error a few percent)."""
    torch.manual_seed(0)
    model = DeepMLP(400, 10, depth=4, width=400, activation="tanh", init="standard").double()
    x = 1e-3 * torch.randn(500, 400, dtype=torch.float64)
    y = torch.randint(0, 10, (500,))
    probe = layer_internals(model, x, y, "nll")
    pred = predict_variances("tanh", "standard", [400] * 5, x.pow(2).mean().item(),
                             probe.grad[-1].var().item(), probe.wgrad[3].var().item())
    for l in range(4):
        assert probe.act[l].var().item() == pytest.approx(pred.act[l], rel=0.1)
        assert probe.grad[l].var().item() == pytest.approx(pred.grad[l], rel=0.15)


@pytest.fixture(scope="module")
def at_init_tanh_5x1000():
    """Tanh 5x1000 at initialisation on 300 Shapeset test examples (the paper's setting)."""
    (_, _), (x, y) = shapeset_splits(1, 300, valid_seed=1, test_seed=2)
    out = {}
    for init in ("standard", "normalized"):
        torch.manual_seed(0)
        model = DeepMLP(1024, 9, depth=5, width=1000, activation="tanh", init=init)
        out[init] = probe_scalars(model, layer_internals(model, x, y, "nll"), jacobian_examples=2,
                                    batch_size=10)
    return out


def test_at_init_backprop_gradients_vanish_with_standard_init_only(at_init_tanh_5x1000):
    """Fig. 7 / eq. 13: with standard init the back-propagated gradient shrinks by about (1/3)^.5
    per layer toward the input; with normalized init it does not."""
    for init, lo, hi in (("standard", 0.0, 0.2), ("normalized", 0.5, 1.0)):
        s = at_init_tanh_5x1000[init]
        stds = [s[f"grad/layer{l}/std"] for l in range(1, 6)]
        assert stds == sorted(stds)  # grows toward the output in both cases...
        assert lo < stds[0] / stds[4] < hi  # ...but only standard init loses an order of magnitude


def test_at_init_weight_gradients_are_flat_across_layers(at_init_tanh_5x1000):
    """Fig. 8 / eq. 14: weight-gradient std about equal across hidden layers, for both inits."""
    for s in at_init_tanh_5x1000.values():
        stds = [s[f"wgrad/layer{l}/std"] for l in range(1, 6)]
        assert max(stds) / min(stds) < 1.3


def test_at_init_mean_singular_values_near_paper(at_init_tanh_5x1000):
    """Sec. 4.2.2: average Jacobian singular value ~0.5 (standard) vs ~0.8 (normalized)."""
    for init, lo, hi in (("standard", 0.4, 0.6), ("normalized", 0.7, 0.9)):
        svs = [at_init_tanh_5x1000[init][f"jacobian/layer{l}/mean_sv"] for l in range(1, 5)]
        assert all(lo < v < hi for v in svs), svs


DESIGN_SCALARS = ["act/layer{l}/mean", "act/layer{l}/std", "act/layer{l}/p02", "act/layer{l}/p98",
                  "preact/layer{l}/mean", "preact/layer{l}/std", "grad/layer{l}/mean",
                  "grad/layer{l}/std", "wgrad/layer{l}/mean", "wgrad/layer{l}/std",
                  "theory/act/layer{l}/std", "theory/grad/layer{l}/std"]


@pytest.mark.e2e
def test_event_files_hold_every_probe_tag(run_smoke):
    """Smoke scale: probes every 20 updates, histograms every 40, depth 5."""
    _, run_dir = run_smoke()
    reader = SummaryReader(str(run_dir))
    steps = reader.scalars.groupby("tag").step.apply(sorted).to_dict()
    for l in range(1, 6):
        for pattern in DESIGN_SCALARS:
            tag = pattern.format(l=l)
            assert steps[tag] == ([0] if tag.startswith("theory") else [0, 20, 40, 60]), tag
    assert steps["wgrad/layer6/std"] == [0, 20, 40, 60]  # W6 feeds the softmax
    for l in range(1, 5):
        assert steps[f"jacobian/layer{l}/mean_sv"] == [0, 40]
    assert "jacobian/layer5/mean_sv" not in steps
    hist = reader.histograms.groupby("tag").step.apply(sorted).to_dict()
    expected = {f"{k}/layer{l}" for k in ("act", "grad", "wgrad") for l in range(1, 6)}
    assert expected | {"wgrad/layer6"} == set(hist)
    assert all(v == [0, 40] for v in hist.values())
    # Activation histograms span tanh's range [-1, 1] in 101 fixed bins.
    act1 = reader.histograms[reader.histograms.tag == "act/layer1"].iloc[0]
    assert len(act1.counts) == 101 and act1.limits[-1] == pytest.approx(1.0)
    assert sum(act1.counts) == 200 * 32  # smoke: the probe set is the whole 200-example test set


@pytest.mark.e2e
def test_probing_off_and_init_only(run_smoke, tmp_path):
    _, off = run_smoke("log.every=0", run_dir=tmp_path / "off")
    tags = set(SummaryReader(str(off)).scalars.tag)
    assert tags == {"error/train", "error/valid", "error/test", "loss/train"}
    summary, init_only = run_smoke("train.updates=0", run_dir=tmp_path / "init")
    assert summary["updates"] == 0 and summary["status"] == "completed"
    df = SummaryReader(str(init_only)).scalars
    assert set(df.step) == {0} and "grad/layer1/std" in set(df.tag)


def test_probe_histogram_ranges_follow_the_activation():
    model, x, y = tiny_net("sigmoid")
    hists = probe_histograms([VALUE_RANGES["sigmoid"]] * 3, layer_internals(model, x, y, "nll"),
                             0.1, 0.01, 11)
    assert hists["act/layer1"].edges[0] == 0.0 and hists["act/layer1"].edges[-1] == 1.0
    assert hists["grad/layer2"].edges[0] == pytest.approx(-0.1)
    assert math.isclose(sum(hists["wgrad/layer4"].counts), 4 * 5)


def test_minibatch_weight_gradient_std_equals_autograd_per_minibatch():
    """Fig. 9's estimator: the pooled std of dC/dW^l over consecutive minibatches, against
    autograd on each minibatch's mean cost (a remainder of the probe set is left out)."""
    torch.manual_seed(3)
    model = DeepMLP(6, 4, depth=3, width=5, activation="tanh", init="standard").double()
    x, y = torch.rand(23, 6, dtype=torch.float64), torch.randint(0, 4, (23,))
    expected = []
    for layer in model.layers:
        entries = []
        for b in range(4):  # 23 // 5 = 4 minibatches of 5; the last 3 examples unused
            model.zero_grad()
            cost(model(x[5 * b:5 * b + 5]), y[5 * b:5 * b + 5], "nll").backward()
            entries.append(layer.weight.grad.flatten().clone())
        expected.append(torch.cat(entries).std().item())
    measured = minibatch_wgrad_std(layer_internals(model, x, y, "nll"), batch_size=5)
    assert measured == pytest.approx(expected, rel=1e-10)
    # It is a different quantity from the std of the whole set's gradient (probe_scalars' std).
    whole = [g.std().item() for g in layer_internals(model, x, y, "nll").wgrad]
    assert all(abs(m - w) > 1e-3 * w for m, w in zip(measured, whole))


def test_abs_p98_is_the_98th_percentile_of_absolute_values():
    model, x, y = tiny_net("tanh")
    x = torch.rand(200, 6, dtype=torch.float64) * 4 - 2
    y = torch.randint(0, 4, (200,))
    internals = layer_internals(model, x, y, "nll")
    out = probe_scalars(model, internals, jacobian_examples=0, batch_size=10)
    for l, z in enumerate(internals.act, start=1):
        flat = z.abs().flatten().sort().values
        assert out[f"act/layer{l}/abs_p98"] == flat[round(0.98 * len(flat)) - 1].item()
        # Both tails together hold 2% of the values beyond +-abs_p98 (one rank either way).
        beyond = (z.abs() > out[f"act/layer{l}/abs_p98"]).double().mean().item()
        assert abs(beyond - 0.02) <= 1 / z.numel()


def test_logged_histograms_span_exactly_the_fixed_range(tmp_path):
    """Every TensorBoard histogram of a quantity shares one axis: its min and max are the
    range's ends whatever the values, read back with TensorBoard's own reader."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from torch.utils.tensorboard import SummaryWriter

    from glorot_repro.measure.tblog import log_histograms
    wide, narrow = torch.linspace(-3, 3, 101), torch.linspace(-0.1, 0.05, 101)
    writer = SummaryWriter(str(tmp_path))
    log_histograms(writer, {"grad/layer1": histogram(wide, -0.5, 0.5, 10),
                            "grad/layer2": histogram(narrow, -0.5, 0.5, 10)}, step=0)
    writer.close()
    events = EventAccumulator(str(tmp_path), size_guidance={"histograms": 0})
    events.Reload()
    for tag in ("grad/layer1", "grad/layer2"):
        value = events.Histograms(tag)[0].histogram_value
        assert (value.min, value.max) == (-0.5, 0.5)
        assert value.bucket_limit[-1] == pytest.approx(0.5) and sum(value.bucket) == 101
