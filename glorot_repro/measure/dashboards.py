"""TensorBoard's custom-scalars dashboard for a run: one chart per statistic holding every layer,
as the paper's figures show them, with the theory's prediction on the chart of what it predicts.

Written once into a run's event file (a layout summary); TensorBoard's Custom Scalars tab draws it.
"""
from __future__ import annotations

import re
from typing import Iterable

from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.compat.proto.tensor_pb2 import TensorProto
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
from tensorboard.plugins.custom_scalar import layout_pb2, metadata

from glorot_repro.measure import tags

CATEGORY = "Glorot & Bengio (2010): per-layer statistics"
MARGIN_CATEGORY = "Glorot & Bengio (2010), Fig. 2: activation mean +- std"

# (title, the per-layer statistics drawn together as (quantity, stat), "theory" for the
# prediction of the quantity's std). A multiline chart of every layer's tags, each layer's
# measurement beside its prediction where the run logged one.
MULTILINE = [
    ("Fig. 2 / eqs. 5-6: activation std (theory/: the linear-regime prediction)",
     [("act", "std"), ("act", "theory")]),
    ("Figs. 3, 10: 98th percentile of |activation|", [("act", "abs_p98")]),
    ("Fig. 7 / eq. 13: back-propagated gradient std dC/ds (theory/: prediction)",
     [("grad", "std"), ("grad", "theory")]),
    ("Fig. 9: weight-gradient std over minibatches", [("wgrad", "batch_std")]),
    ("Eq. 14: weight-gradient std (theory/: prediction)", [("wgrad", "std"), ("wgrad", "theory")]),
    ("Sec. 4.2.2: Jacobian mean singular value", [("jacobian", "mean_sv")]),
    ("Sec. 4.2: pre-activation std", [("preact", "std")]),
]
ERROR_CHART = "Figs. 11, 12: error (%)"
# Fig. 2: each layer's activation mean with its +-1 std band. Its own category, first: the
# dashboard draws margin charts after all multiline ones of a category.
MARGIN = ("Fig. 2: activation mean +- std", ("mean", "mean_minus_std", "mean_plus_std"))


def _tag(quantity: str, stat: str, l: int) -> str:
    return tags.theory(quantity, l) if stat == "theory" else tags.layer(quantity, l, stat)


def _exactly(tag: str) -> str:
    """The custom-scalars plugin reads a multiline chart's tags as regexes matched at the start of
    a tag: anchored at the end too, act/layer1/std picks neither act/layer1/std_... nor layer10.
    (A margin chart's series name their tags literally.)"""
    return re.escape(tag) + "$"


def _layers(logged: set[str]) -> list[int]:
    return sorted({parsed.layer for t in logged if (parsed := tags.parse(t)) and parsed.stat})


def layout(logged: Iterable[str]) -> layout_pb2.Layout:
    """The dashboard for a run that logs the tags `logged` (the scalars of one probe step, plus
    error/ ones): a chart for each statistic it has, drawing the layers it has."""
    logged = set(logged)
    layers = _layers(logged)
    series = []
    for l in layers:
        value, lower, upper = (tags.layer("act", l, stat) for stat in MARGIN[1])
        if {value, lower, upper} <= logged:
            series.append(layout_pb2.MarginChartContent.Series(value=value, lower=lower,
                                                               upper=upper))
    categories = []
    if series:
        categories.append(layout_pb2.Category(title=MARGIN_CATEGORY, chart=[layout_pb2.Chart(
            title=MARGIN[0], margin=layout_pb2.MarginChartContent(series=series))]))
    # Weights logged by module, where several feed one layer (wgrad/layer7[layer2.0.conv2]/std):
    # drawn beside the layer's own tag.
    by_module: dict[tuple[str, str, int], list[str]] = {}
    for t in sorted(logged):
        parsed = tags.parse(t)
        if parsed and parsed.module and not parsed.theory:
            by_module.setdefault((parsed.quantity, parsed.stat, parsed.layer), []).append(t)
    charts = []
    for title, wanted in [(t, [tag for l in layers for q, s in stats
                               for tag in [_tag(q, s, l), *by_module.get((q, s, l), [])]])
                          for t, stats in MULTILINE] + [(ERROR_CHART, list(tags.ERRORS))]:
        present = [_exactly(t) for t in wanted if t in logged]
        if present:
            charts.append(layout_pb2.Chart(
                title=title, multiline=layout_pb2.MultilineChartContent(tag=present)))
    categories.append(layout_pb2.Category(title=CATEGORY, chart=charts))
    return layout_pb2.Layout(category=categories)


def write_layout(writer, scalars_layout: layout_pb2.Layout, step: int) -> None:
    """The layout as the custom-scalars plugin reads it: a string tensor under its config tag.
    (SummaryWriter.add_custom_scalars draws one series per margin chart; Fig. 2 needs D.)"""
    tensor = TensorProto(dtype="DT_STRING", string_val=[scalars_layout.SerializeToString()],
                         tensor_shape=TensorShapeProto())
    value = Summary.Value(tag=metadata.CONFIG_SUMMARY_TAG, tensor=tensor,
                          metadata=metadata.create_summary_metadata())
    writer._get_file_writer().add_summary(Summary(value=[value]), step)
