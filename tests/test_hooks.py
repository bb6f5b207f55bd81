"""hooks.watch on models outside the package (an nn.Sequential MLP, a small CNN) held against the
same tensors reached by hand with retain_grad; hooks.capture on DeepMLP held against its own
internals; the dashboard layout against the tags it names."""
import re

import pytest
import torch
import torch.nn.functional as F
from tbparse import SummaryReader
from torch import nn
from torch.utils.tensorboard import SummaryWriter

from glorot_repro.command.compose import compose_config
from glorot_repro.measure.dashboards import layout
from glorot_repro.measure.hooks import capture, watch
from glorot_repro.measure.probes import layer_internals, run_probes
from glorot_repro.nets.activations import ACTIVATIONS
from glorot_repro.nets.losses import cost
from glorot_repro.nets.model import DeepMLP

from conftest import mlp_by_hand, scalars


def p98(t):
    """Nearest-rank 98th percentile, by a full sort (stats.percentiles selects the k-th)."""
    flat = t.detach().flatten().sort().values
    return flat[round(0.98 * len(flat)) - 1].item()


def expected_layer(l, s, z, delta):
    return {f"act/layer{l}/mean": z.mean().item(), f"act/layer{l}/std": z.std().item(),
            f"act/layer{l}/p98": p98(z), f"act/layer{l}/abs_p98": p98(z.abs()),
            f"preact/layer{l}/std": s.std().item(), f"grad/layer{l}/mean": delta.mean().item(),
            f"grad/layer{l}/std": delta.std().item()}


def user_mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 12), nn.Sigmoid(),
                         nn.Linear(12, 3))


def test_watch_logs_a_user_mlp_on_its_training_minibatches(tmp_path):
    """Steps 0, 3, 6 of 8, on the step's own minibatch: z^l, s^l, delta^l = B dL/ds^l (the mean
    loss's gradient, per example) and dL/dW^l, W^3 feeding the output, from a twin trained in
    lockstep whose tensors are read by hand."""
    model, twin = user_mlp(), user_mlp()
    writer = SummaryWriter(str(tmp_path))
    handle = watch(model, writer, every=3)
    opt, twin_opt = (torch.optim.SGD(m.parameters(), lr=0.5) for m in (model, twin))
    gen = torch.Generator().manual_seed(1)
    expected = {}
    for step in range(8):
        x, y = torch.randn(10, 8, generator=gen), torch.randint(0, 3, (10,), generator=gen)
        with torch.no_grad():
            model(x)  # an evaluation between steps is no step
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        twin_opt.zero_grad()
        layers = mlp_by_hand(twin, x, y, torch.tanh, torch.sigmoid)
        if step % 3 == 0:
            for l, (s, z, linear) in enumerate(layers, start=1):
                expected |= {(tag, step): v
                             for tag, v in expected_layer(l, s, z, 10 * s.grad).items()}
                expected[(f"wgrad/layer{l}/std", step)] = linear.weight.grad.std().item()
            expected[("wgrad/layer3/std", step)] = twin[4].weight.grad.std().item()
        twin_opt.step()
    handle.remove()
    writer.close()
    logged = scalars(tmp_path)
    for (tag, step), value in expected.items():
        assert dict(logged[tag])[step] == pytest.approx(value, rel=1e-5, abs=1e-9), (tag, step)
    assert {tag for tag in logged if "layer" in tag} == {
        f"{k}/layer{l}/{s}" for l in (1, 2) for k, stats in
        (("act", ("mean", "std", "p02", "p98", "abs_p98", "mean_minus_std", "mean_plus_std")),
         ("preact", ("mean", "std")), ("grad", ("mean", "std"))) for s in stats
    } | {f"wgrad/layer{l}/{s}" for l in (1, 2, 3) for s in ("mean", "std")}
    assert all([s for s, _ in series] == [0, 3, 6] for series in logged.values())
    hist = SummaryReader(str(tmp_path)).histograms
    assert set(hist.tag) == {"act/layer1", "act/layer2", "grad/layer1", "grad/layer2",
                             "wgrad/layer1", "wgrad/layer2", "wgrad/layer3"}
    # Fixed bins: tanh's [-1, 1], sigmoid's [0, 1], gradients +-0.1 (the probes' defaults).
    for tag, hi in (("act/layer1", 1.0), ("act/layer2", 1.0), ("grad/layer1", 0.1)):
        limits = hist[hist.tag == tag].iloc[0].limits
        assert len(limits) == 101 and limits[-1] == pytest.approx(hi)


class SmallCNN(nn.Module):
    """A user's CNN: conv -> ReLU -> pool -> conv -> Softplus -> flatten -> linear."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 6, 3, padding=1)
        self.relu, self.softplus = nn.ReLU(), nn.Softplus()
        self.pool, self.fc = nn.MaxPool2d(2), nn.Linear(6 * 4 * 4, 5)

    def forward(self, x):
        s1 = self.conv1(x)
        s2 = self.conv2(self.pool(self.relu(s1)))
        return self.fc(self.softplus(s2).flatten(1))


def test_watch_logs_a_user_cnn_on_a_fixed_probe_batch(tmp_path):
    """probe=(x, y): before steps 0, 2, 4 its own pass on the probe batch, with the weights the
    step starts from (a copy of them read by hand: deltas of the summed cost, weight gradients
    of the mean); and the training itself is the same as an unwatched twin's to the bit."""
    torch.manual_seed(2)
    model, twin = SmallCNN(), SmallCNN()
    twin.load_state_dict(model.state_dict())
    gen = torch.Generator().manual_seed(3)
    probe = torch.randn(12, 1, 8, 8, generator=gen), torch.randint(0, 5, (12,), generator=gen)
    writer = SummaryWriter(str(tmp_path))
    handle = watch(model, writer, every=2, probe=probe)
    opt, twin_opt = (torch.optim.SGD(m.parameters(), lr=0.2) for m in (model, twin))
    expected = {}
    for step in range(5):
        if step % 2 == 0:
            ref = SmallCNN()
            ref.load_state_dict(model.state_dict())
            s1 = ref.conv1(probe[0])
            z1 = torch.relu(s1)
            s2 = ref.conv2(ref.pool(z1))
            z2 = F.softplus(s2)
            for s in (s1, s2):
                s.retain_grad()
            (F.cross_entropy(ref.fc(z2.flatten(1)), probe[1]) * 12).backward()
            for l, (s, z, w) in enumerate([(s1, z1, ref.conv1), (s2, z2, ref.conv2),
                                           (None, None, ref.fc)], start=1):
                if s is not None:
                    expected |= {(tag, step): v for tag, v in expected_layer(l, s, z, s.grad).items()}
                expected[(f"wgrad/layer{l}/std", step)] = (w.weight.grad / 12).std().item()
        x, y = torch.randn(6, 1, 8, 8, generator=gen), torch.randint(0, 5, (6,), generator=gen)
        for m, o in ((model, opt), (twin, twin_opt)):
            o.zero_grad()
            F.cross_entropy(m(x), y).backward()
            o.step()
    handle.remove()
    writer.close()
    for p, q in zip(model.parameters(), twin.parameters()):
        assert torch.equal(p, q)
    logged = scalars(tmp_path)
    for (tag, step), value in expected.items():
        assert dict(logged[tag])[step] == pytest.approx(value, rel=1e-5, abs=1e-9), (tag, step)
    assert [s for s, _ in logged["grad/layer2/std"]] == [0, 2, 4]
    hist = SummaryReader(str(tmp_path)).histograms
    relu = hist[hist.tag == "act/layer1"].iloc[0]
    assert relu.limits[-1] == pytest.approx(4.0)  # ReLU's histogram range, [0, 4]
    assert sum(relu.counts) == 12 * 4 * 8 * 8


class Spy(nn.Module):
    """Passes its input through and notes how many forward hooks the activations carry."""

    def __init__(self, activations):
        super().__init__()
        self.activations, self.seen = activations, []

    def forward(self, x):
        self.seen.append(sum(len(m._forward_hooks) for m in self.activations))
        return x


def test_between_logging_steps_no_layer_carries_a_hook(tmp_path):
    """Only a due step's forward carries the recording hooks; a due forward with no backward
    (a look at the outputs with gradients on) leaves the step to the next forward; remove()
    leaves no hook at all, and steps after it log nothing."""
    torch.manual_seed(0)
    tanh, relu = nn.Tanh(), nn.ReLU()
    spy = Spy([tanh, relu])
    model = nn.Sequential(nn.Linear(4, 6), tanh, spy, nn.Linear(6, 6), relu, nn.Linear(6, 2))
    writer = SummaryWriter(str(tmp_path))
    handle = watch(model, writer, every=4)
    for step in range(9):
        if step == 4:
            model(torch.randn(5, 4))
        F.cross_entropy(model(torch.randn(5, 4)), torch.randint(0, 2, (5,))).backward()
    assert spy.seen == [2, 0, 0, 0, 2, 2, 0, 0, 0, 2]
    handle.remove()
    assert all(not (m._forward_hooks or m._forward_pre_hooks) for m in model.modules())
    for _ in range(5):
        F.cross_entropy(model(torch.randn(5, 4)), torch.randint(0, 2, (5,))).backward()
    writer.close()
    assert [s for s, _ in scalars(tmp_path)["act/layer2/std"]] == [0, 4, 8]


def test_watch_takes_the_users_own_activations_and_refuses_what_it_cannot_find(tmp_path):
    writer = SummaryWriter(str(tmp_path))
    gelu, mine = nn.GELU(), nn.Hardtanh()
    model = nn.Sequential(nn.Linear(3, 5), gelu, nn.Linear(5, 5), mine, nn.Linear(5, 2))
    with pytest.raises(ValueError, match="no activation modules found in Sequential.*qualified "
                                         "names"):
        watch(model, writer)
    handle = watch(model, writer, every=1, modules=[nn.GELU, mine])
    F.cross_entropy(model(torch.randn(4, 3)), torch.tensor([0, 1, 0, 1])).backward()
    handle.remove()
    with pytest.raises(ValueError, match="modules= names 'layers.0', which Sequential does not"):
        watch(model, writer, modules=["layers.0"])
    writer.close()
    assert {"act/layer1/std", "act/layer2/std", "wgrad/layer3/std"} <= scalars(tmp_path).keys()


def tiny_net(activation):
    torch.manual_seed(0)
    model = DeepMLP(6, 4, depth=3, width=5, activation=activation, init="normalized").double()
    for layer in model.layers:
        nn.init.uniform_(layer.bias, -0.5, 0.5)
    return model, torch.rand(12, 6, dtype=torch.float64), torch.randint(0, 4, (12,))


@pytest.mark.parametrize("loss", ["nll", "quadratic"])
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_capture_reads_deep_mlp_exactly_as_its_internals(activation, loss):
    """train.step=autograd probes through hooks: the same tensors as DeepMLP's own internals, so
    the same logged numbers at the same step (Jacobians, theory and Fig. 9's batch_std too)."""
    model, x, y = tiny_net(activation)
    ours = capture(model, x, y, lambda logits, t: cost(logits, t, loss))
    ref = layer_internals(model, x, y, loss)
    for field in ("pre", "act", "grad", "wgrad"):
        for a, b in zip(getattr(ours, field), getattr(ref, field), strict=True):
            assert torch.equal(a, b), field
    assert torch.equal(ours.logit_grad, ref.logit_grad) and torch.equal(ours.x, ref.x)
    assert all(p.grad is None for p in model.parameters())  # the model's .grad untouched
    cfg = compose_config(["scale=smoke", f"activation={activation}", "train.batch_size=4",
                          "log.histograms=1"])
    args = (cfg.log, cfg.activation.name, cfg.init.name, cfg.train.batch_size)
    assert run_probes(model, ours, 0, *args) == run_probes(model, ref, 0, *args)


def test_layout_draws_every_layer_of_each_statistic_it_has():
    tags = {f"act/layer{l}/{s}" for l in (1, 2) for s in
            ("mean", "std", "abs_p98", "mean_minus_std", "mean_plus_std")}
    tags |= {"act/layer10/std", "theory/act/layer1/std", "error/valid"}
    charts = {c.title: c for cat in layout(tags).category for c in cat.chart}
    assert set(charts) == {"Fig. 2: activation mean +- std",
                           "Fig. 2 / eqs. 5-6: activation std (theory/: the linear-regime prediction)",
                           "Figs. 3, 10: 98th percentile of |activation|", "Figs. 11, 12: error (%)"}
    std = charts["Fig. 2 / eqs. 5-6: activation std (theory/: the linear-regime prediction)"]
    # Regexes matched from the start of a tag: each names exactly one of the tags.
    assert [[t for t in tags if re.match(r, t)] for r in std.multiline.tag] == [
        ["act/layer1/std"], ["theory/act/layer1/std"], ["act/layer2/std"], ["act/layer10/std"]]
    # Weights of a layer fed by several modules: beside the layer's place, by name.
    wgrad = {"wgrad/layer1/std", "wgrad/layer2[b.conv2]/std", "wgrad/layer2[b.down.0]/std"}
    chart = next(c for cat in layout(tags | wgrad).category for c in cat.chart
                 if c.title.startswith("Eq. 14"))
    assert [[t for t in wgrad if re.match(r, t)] for r in chart.multiline.tag] == [
        ["wgrad/layer1/std"], ["wgrad/layer2[b.conv2]/std"], ["wgrad/layer2[b.down.0]/std"]]
    margin = charts["Fig. 2: activation mean +- std"].margin.series
    assert [(s.value, s.lower, s.upper) for s in margin] == [
        (f"act/layer{l}/mean", f"act/layer{l}/mean_minus_std", f"act/layer{l}/mean_plus_std")
        for l in (1, 2)]
