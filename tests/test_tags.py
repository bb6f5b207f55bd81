"""tags.py builds every tag the writers log and parses every tag the readers read: the two agree
on a real probe step of a deep net, and the layer numbering is the paper's (1..D hidden, D+1 the
softmax layer, which only weight gradients reach)."""
import torch

from glorot_repro.measure import tags
from glorot_repro.measure.probes import (layer_internals, probe_histograms, probe_scalars,
                                         theory_scalars)
from glorot_repro.nets.model import DeepMLP


def test_build_and_parse_are_inverse():
    assert tags.parse(tags.layer("act", 12, "abs_p98")) == tags.LayerTag("act", 12, "abs_p98")
    assert tags.parse(tags.layer("wgrad", 3)) == tags.LayerTag("wgrad", 3, None)
    assert tags.parse(tags.theory("grad", 2)) == tags.LayerTag("grad", 2, "std", theory=True)
    assert tags.parse(tags.pretrain(1)) == tags.LayerTag("pretrain", 1, "reconstruction")
    assert tags.feeder("wgrad", 7, "layer2.0.conv2", "std") == "wgrad/layer7[layer2.0.conv2]/std"
    assert tags.parse("wgrad/layer7[layer2.0.conv2]/std") == tags.LayerTag(
        "wgrad", 7, "std", module="layer2.0.conv2")
    assert tags.parse(tags.feeder("wgrad", 7, "downsample.0")) == tags.LayerTag(
        "wgrad", 7, None, module="downsample.0")
    for other in (*tags.ERRORS, tags.LOSS_TRAIN, "act/layerX/std", "act/layer1/std/extra"):
        assert tags.parse(other) is None


def test_numbering_skips_missing_layers_but_keeps_their_numbers():
    assert list(tags.numbered(["a", None, "c"])) == [(1, "a"), (3, "c")]
    assert [tags.is_hidden(l, 3) for l in (0, 1, 3, 4)] == [False, True, True, False]


def test_a_probe_step_of_a_deep_net_parses_to_its_layers():
    depth = 7
    torch.manual_seed(0)
    model = DeepMLP(6, 3, depth, 5, "tanh", "normalized")
    x, y = torch.rand(20, 6), torch.randint(0, 3, (20,))
    internals = layer_internals(model, x, y, "nll")
    logged = (probe_scalars(model, internals, jacobian_examples=2, batch_size=10)
              | theory_scalars("tanh", "normalized", [6] + [5] * depth, internals))
    parsed = [tags.parse(t) for t in logged]
    assert None not in parsed
    layers: dict[tuple[str, bool], set[int]] = {}
    for p in parsed:
        layers.setdefault((p.quantity, p.theory), set()).add(p.layer)
    hidden, with_softmax = set(range(1, depth + 1)), set(range(1, depth + 2))
    assert layers[("act", False)] == layers[("preact", False)] == layers[("grad", False)] == hidden
    assert layers[("wgrad", False)] == with_softmax  # W^{D+1} feeds the softmax
    assert layers[("jacobian", False)] == set(range(1, depth))  # J^l = dz^{l+1}/dz^l
    assert layers[("act", True)] == layers[("grad", True)] == hidden
    histograms = probe_histograms([(-1.0, 1.0)] * depth, internals, 0.1, 0.1, 10)
    assert {tags.parse(t).layer for t in histograms if t.startswith("act/")} == hidden
