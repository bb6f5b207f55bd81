"""hooks.watch on the models people train: torchvision's resnet18 as shipped (in-place ReLUs,
branches), a TransformerEncoder whose GELU is a function, a compiled model, an activation
reused at several depths, float64. Every value held against the same tensors computed by hand
on a twin of the model, its gradients by autograd."""
import copy

import pytest
import torch
import torch.nn.functional as F
import torchvision
from tbparse import SummaryReader
from torch import nn
from torch.utils.tensorboard import SummaryWriter

from glorot_repro.measure.hooks import COMPILED_AFTER, watch
from glorot_repro.measure.stats import span

from conftest import mlp_by_hand, scalars


class Recorder:
    """A SummaryWriter's surface as watch uses it, keeping the values as Python floats (event
    files hold float32: too coarse for float64's 1e-10)."""

    def __init__(self):
        self.scalars, self.histograms = {}, {}

    def add_scalar(self, tag, value, step):
        self.scalars[(tag, step)] = value

    def add_histogram_raw(self, tag, global_step, **h):
        self.histograms[(tag, global_step)] = h

    def _get_file_writer(self):
        return self

    def add_summary(self, summary, step):
        pass


def moments(prefix, t):
    return {f"{prefix}/mean": t.mean().item(), f"{prefix}/std": t.std().item()}


def resnet_block_by_hand(twin, x):
    """resnet18's forward on x with layer2.0 (the first downsampling block) written out: its
    second ReLU's input s = bn2(conv2(.)) + downsample(.) keeps its gradient."""
    h = twin.maxpool(twin.relu(twin.bn1(twin.conv1(x))))
    h = twin.layer1(h)
    b = twin.layer2[0]
    s6 = b.bn1(b.conv1(h))
    z6 = F.relu(s6)
    s7 = b.bn2(b.conv2(z6)) + b.downsample(h)
    z7 = F.relu(s7)
    for s in (s6, s7):
        s.retain_grad()
    out = twin.layer4(twin.layer3(twin.layer2[1](z7)))
    return twin.fc(torch.flatten(twin.avgpool(out), 1)), (s6, z6), (s7, z7)


def test_resnet18_as_shipped_with_its_downsampling_blocks_feeders_by_name(tmp_path):
    """17 ReLU calls (in place, as shipped) are layers 1..17, fc is 18. Layer 7 is layer2.0's
    second ReLU: fed by conv2 and by the 1x1 shortcut conv, each logged under its name and
    equal to autograd's gradient of that conv's weight; layer 6 (fed by conv1 alone) keeps the
    plain tag. Training is the same as an unwatched twin's to the bit."""
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10)
    assert all(m.inplace for m in model.modules() if isinstance(m, nn.ReLU))
    twin, plain = copy.deepcopy(model), copy.deepcopy(model)
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(4, 3, 32, 32, generator=gen), torch.randint(0, 10, (4,), generator=gen)
    writer = SummaryWriter(str(tmp_path))
    handle = watch(model, writer, every=1)
    opts = [torch.optim.SGD(m.parameters(), lr=0.1) for m in (model, plain)]
    for m, opt in zip((model, plain), opts):
        F.cross_entropy(m(x), y).backward()
        opt.step()
    handle.remove()
    writer.close()
    out, (s6, z6), (s7, z7) = resnet_block_by_hand(twin, x)
    F.cross_entropy(out, y).backward()
    b = twin.layer2[0]
    expected = {**moments("act/layer7", z7), **moments("preact/layer7", s7),
                **moments("grad/layer7", 4 * s7.grad), **moments("act/layer6", z6),
                **moments("grad/layer6", 4 * s6.grad),
                **moments("wgrad/layer7[layer2.0.conv2]", b.conv2.weight.grad),
                **moments("wgrad/layer7[layer2.0.downsample.0]", b.downsample[0].weight.grad),
                **moments("wgrad/layer6", b.conv1.weight.grad),
                **moments("wgrad/layer18", twin.fc.weight.grad)}
    logged = scalars(tmp_path)
    for tag, value in expected.items():
        assert dict(logged[tag])[0] == pytest.approx(value, rel=1e-4, abs=1e-7), tag
    assert {t.split("/")[1] for t in logged if t.startswith("act/")} == {
        f"layer{l}" for l in range(1, 18)}
    # The downsampling blocks' last ReLUs (7, 11, 15) have two feeders each; no other layer.
    named = {t.rsplit("/", 1)[0] for t in logged if "[" in t}
    assert named == {f"wgrad/layer{l}[layer{k}.0.{conv}]" for l, k in ((7, 2), (11, 3), (15, 4))
                     for conv in ("conv2", "downsample.0")}
    assert {f"wgrad/layer{l}/std" for l in (7, 11, 15)}.isdisjoint(logged)
    hist = SummaryReader(str(tmp_path)).histograms
    assert "wgrad/layer7[layer2.0.conv2]" in set(hist.tag)
    for p, q in zip(model.parameters(), plain.parameters()):
        assert torch.equal(p, q)


class TinyTransformer(nn.Module):
    def __init__(self):
        super().__init__()
        layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0,
                                           activation="gelu", batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        return self.head(self.encoder(x).mean(1))


def test_transformer_encoder_with_functional_gelu_by_qualified_names():
    """F.gelu is no module: naming linear1 makes its output s^l. Its delta^l and linear1's weight
    gradient against the encoder layers written out by hand (post-norm, as PyTorch's default);
    z^l is out of sight, so no act/ tag."""
    torch.manual_seed(0)
    model = TinyTransformer()
    twin = copy.deepcopy(model)
    x, y = torch.randn(5, 4, 8), torch.tensor([0, 1, 2, 0, 1])
    rec = Recorder()
    with pytest.raises(ValueError, match="no activation modules found in TinyTransformer"):
        watch(model, rec)
    handle = watch(model, rec, every=1,
                   modules=["encoder.layers.0.linear1", "encoder.layers.1.linear1"])
    F.cross_entropy(model(x), y).backward()
    handle.remove()
    h, pre = x, []
    for layer in twin.encoder.layers:
        h = layer.norm1(h + layer.self_attn(h, h, h, need_weights=False)[0])
        s = layer.linear1(h)
        s.retain_grad()
        pre.append(s)
        h = layer.norm2(h + layer.linear2(F.gelu(s)))
    F.cross_entropy(twin.head(h.mean(1)), y).backward()
    expected = {}
    for l, (s, layer) in enumerate(zip(pre, twin.encoder.layers), start=1):
        expected |= {**moments(f"preact/layer{l}", s), **moments(f"grad/layer{l}", 5 * s.grad),
                     **moments(f"wgrad/layer{l}", layer.linear1.weight.grad)}
    expected |= moments("wgrad/layer3", twin.head.weight.grad)
    got = {tag: v for (tag, step), v in rec.scalars.items()}
    assert set(got) == set(expected)
    for tag, value in expected.items():
        assert got[tag] == pytest.approx(value, rel=1e-5, abs=1e-8), tag


def small_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 8), nn.ReLU(inplace=True),
                         nn.Linear(8, 3))


def test_a_compiled_model_logs_what_the_eager_one_does():
    """watch(torch.compile(model)) runs its logging steps eagerly: the same tags and values as
    the eager model at steps 0, 2, 4 (aot_eager: dynamo and AOTAutograd as the default backend
    uses them, without its C++ compile). Compiling after watch() warns at the first call."""
    model, twin = small_net(), small_net()
    compiled = torch.compile(model, backend="aot_eager")
    ours, ref = Recorder(), Recorder()
    handles = [watch(compiled, ours, every=2), watch(twin, ref, every=2)]
    gen = torch.Generator().manual_seed(1)
    for _ in range(5):
        x, y = torch.randn(5, 6, generator=gen), torch.randint(0, 3, (5,), generator=gen)
        for m in (compiled, twin):
            F.cross_entropy(m(x), y).backward()
    assert {s for _, s in ref.scalars} == {0, 2, 4}
    assert ours.scalars.keys() == ref.scalars.keys()
    for key, value in ref.scalars.items():
        assert ours.scalars[key] == pytest.approx(value, rel=1e-6, abs=1e-9), key
    for h in handles:
        h.remove()
    late, rec = small_net(), Recorder()
    watch(late, rec)
    # Dynamo would reuse the graph it compiled above for the same class (it guards on no hook):
    # the warning comes from the first trace of a watched model.
    torch._dynamo.reset()
    with pytest.warns(UserWarning, match="compiled after watch"):
        F.cross_entropy(torch.compile(late, backend="aot_eager")(x), y).backward()
    assert "watch(torch.compile(model)" in COMPILED_AFTER


def test_a_reused_activation_in_float64_to_1e_10():
    """One Tanh module at two depths: two layers, each equal to the hand computation to 1e-10
    in float64, on the step's minibatch."""
    torch.manual_seed(0)
    tanh = nn.Tanh()
    model = nn.Sequential(nn.Linear(5, 7), tanh, nn.Linear(7, 7), tanh, nn.Linear(7, 3)).double()
    twin = copy.deepcopy(model)
    x, y = torch.randn(9, 5, dtype=torch.float64), torch.randint(0, 3, (9,))
    rec = Recorder()
    handle = watch(model, rec, every=1)
    F.cross_entropy(model(x), y).backward()
    handle.remove()
    expected = {}
    for l, (s, z, linear) in enumerate(mlp_by_hand(twin, x, y, torch.tanh, torch.tanh), start=1):
        expected |= {**moments(f"act/layer{l}", z), **moments(f"preact/layer{l}", s),
                     **moments(f"grad/layer{l}", 9 * s.grad),
                     **moments(f"wgrad/layer{l}", linear.weight.grad)}
    expected |= moments("wgrad/layer3", twin[4].weight.grad)
    for tag, value in expected.items():
        assert rec.scalars[(tag, 0)] == pytest.approx(value, rel=1e-10, abs=1e-12), tag
    assert {tag for tag, _ in rec.scalars if tag.startswith("act/")} >= {
        "act/layer1/std", "act/layer2/std"}
    assert not any(tag.startswith("act/layer3") for tag, _ in rec.scalars)


def test_histogram_ranges_of_unknown_activations_come_from_the_first_logged_step():
    """GELU's range: the first logged step's [min, max] widened by a quarter each side
    (stats.span), then the same at every step; Tanh keeps its [-1, 1]."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.GELU(), nn.Linear(6, 6), nn.Tanh(), nn.Linear(6, 2))
    rec = Recorder()
    handle = watch(model, rec, every=1, modules=[nn.GELU])
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for step in range(3):
        x = torch.randn(8, 4) * (1 + step)  # later steps spread wider
        if step == 0:
            with torch.no_grad():
                lo, hi = span(F.gelu(model[0](x)))
        opt.zero_grad()
        F.cross_entropy(model(x), torch.randint(0, 2, (8,))).backward()
        opt.step()
    handle.remove()
    for step in range(3):
        gelu, tanh = rec.histograms[("act/layer1", step)], rec.histograms[("act/layer2", step)]
        assert (gelu["min"], gelu["max"]) == pytest.approx((lo, hi))
        assert (tanh["min"], tanh["max"]) == (-1.0, 1.0)
    first = rec.histograms[("act/layer1", 0)]["bucket_counts"]
    assert sum(first) == 8 * 6 and first[0] == first[-1] == 0  # nothing piled at an edge


class Doubled(nn.Module):
    """A block named in modules= that holds an activation of its own."""

    def __init__(self):
        super().__init__()
        self.act = nn.Tanh()

    def forward(self, s):
        return 2 * self.act(s)


def test_a_named_block_and_the_activation_inside_it_are_two_layers():
    """In the order their forwards begin: the block (s^1 its input, z^1 = 2 tanh(s^1)), then its
    Tanh (the same input, z^2 = tanh(s^1)); the Linear before them feeds both."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), Doubled(), nn.Linear(4, 2))
    x, y = torch.randn(5, 3), torch.tensor([0, 1, 0, 1, 0])
    rec = Recorder()
    handle = watch(model, rec, every=1, modules=["1"])
    F.cross_entropy(model(x), y).backward()
    handle.remove()
    s = model[0](x).detach()
    for l, z in ((1, 2 * torch.tanh(s)), (2, torch.tanh(s))):
        assert rec.scalars[(f"act/layer{l}/std", 0)] == pytest.approx(z.std().item(), rel=1e-6)
        assert rec.scalars[(f"preact/layer{l}/std", 0)] == pytest.approx(s.std().item(), rel=1e-6)
    assert rec.scalars[("wgrad/layer1/std", 0)] == rec.scalars[("wgrad/layer2/std", 0)]
