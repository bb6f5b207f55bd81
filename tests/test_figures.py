"""Figure functions on small tidy tables made here: what each draws, read back from the
matplotlib artists (collect.py's columns; the end-to-end drawing is in test_reproduce.py)."""
import numpy as np
import pandas as pd
import pytest

from glorot_repro.analysis.figures.histograms import layer_histogram_panels
from glorot_repro.analysis.figures.style import plt
from glorot_repro.analysis.figures.training import error_curves, saturation_panels

RUN = {"dataset": "shapeset", "depth": 2, "batch_size": 10, "pretrain": "none"}


def scalar_rows(activation, init, tag_values):
    return [{**RUN, "run": f"{activation}_{init}", "activation": activation, "init": init,
             "tag": tag, "step": step, "value": value} for tag, step, value in tag_values]


def test_histograms_draw_their_end_bins():
    # A pile-up in the last bin (tanh saturating at +1) must be drawn.
    counts = [1.0] * 9 + [20.0]
    hist = pd.DataFrame([{**RUN, "run": "r", "activation": "tanh", "init": "standard",
                          "tag": f"act/layer{l}", "step": 0, "counts": counts,
                          "limits": list(np.linspace(-0.8, 1.0, 10))} for l in (1, 2)])
    fig = layer_histogram_panels(hist, "act", [("tanh", "standard")])
    for line in fig.axes[0].get_lines():
        x, y = line.get_data()
        assert len(x) == 10 and y[-1] == pytest.approx(20 / 29) and x[-1] == pytest.approx(0.9)
    plt.close(fig)


def test_saturation_markers_mirror_the_abs_percentile():
    rows = scalar_rows("tanh", "standard", [
        ("act/layer1/std", 0, 0.5), ("act/layer1/abs_p98", 0, 0.9),
        ("act/layer1/p98", 0, 0.7), ("act/layer1/p02", 0, -0.95)])
    table = pd.DataFrame(rows)
    drawn = {}
    for percentile in ("abs", "signed"):
        fig = saturation_panels(table, [("tanh", "standard")], percentile=percentile)
        lines = fig.axes[0].get_lines()
        drawn[percentile] = sorted(float(l.get_ydata()[0]) for l in lines if l.get_marker() == "o")
        plt.close(fig)
    assert drawn["abs"] == [-0.9, 0.9]
    assert drawn["signed"] == [-0.95, 0.7]


def test_error_curves_give_each_init_its_own_line_style():
    # Sigmoid and Sigmoid N both sit at the class prior: the one drawn second must not hide the other.
    rows = []
    for init in ("standard", "normalized"):
        rows += scalar_rows("sigmoid", init, [("error/test", s, 83.3) for s in (0, 100, 200)])
    fig = error_curves(pd.DataFrame(rows), {"shapeset": "Shapeset"})
    styles = {l.get_label().split(" (")[0]: l.get_linestyle() for l in fig.axes[0].get_lines()}
    assert styles == {"Sigmoid": "-", "Sigmoid N": "--"}
    plt.close(fig)


def test_paper_readings_drawn_within_range_in_the_curves_colour():
    from glorot_repro.analysis.paper import Reading
    rows = scalar_rows("tanh", "normalized", [("error/test", s, 50.0) for s in (0, 100, 200)])
    # Sigmoid's reading has no curve in these runs: left out, not drawn in black.
    readings = {"shapeset": [Reading(11, "Tanh N", 200, 42.0), Reading(11, "Tanh N", 10**6, 16.1),
                             Reading(11, "Sigmoid", 200, 83.5)]}
    fig = error_curves(pd.DataFrame(rows), {"shapeset": "Shapeset"}, readings)
    lines = fig.axes[0].get_lines()
    curve, = [l for l in lines if l.get_marker() != "D"]
    marks = [l for l in lines if l.get_marker() == "D"]
    # Update 200 = 2000 examples seen; the reading at 1M updates lies beyond these runs.
    assert [(m.get_xdata()[0], m.get_ydata()[0]) for m in marks] == [(2000 / 1e6, 42.0)]
    assert marks[0].get_label() == "paper (read off Fig. 11)"
    assert marks[0].get_color() == curve.get_color()
    plt.close(fig)
    far = {"shapeset": [Reading(11, "Tanh N", 10**6, 16.1)]}
    fig = error_curves(pd.DataFrame(rows), {"shapeset": "Shapeset"}, far)
    assert not [l for l in fig.axes[0].get_lines() if l.get_marker() == "D"]
    assert "first reading at 1,000,000 updates" in fig.axes[0].texts[0].get_text()
    plt.close(fig)


def test_saturation_readings_mirror_about_zero():
    from glorot_repro.analysis.paper import Reading
    table = pd.DataFrame(scalar_rows("tanh", "standard", [
        (f"act/layer1/{stat}", s, v) for s in (0, 1000) for stat, v in (("std", 0.5), ("abs_p98", 0.9))]))
    fig = saturation_panels(table, [("tanh", "standard")],
                            readings={("tanh", "standard"): [Reading(3, "Layer 1", 1000, 1.0)]})
    marks = sorted(l.get_ydata()[0] for l in fig.axes[0].get_lines() if l.get_marker() == "D")
    assert marks == [-1.0, 1.0]
    plt.close(fig)


def test_fig2_cost_panel_draws_the_notebooks_readings_under_their_own_label():
    """Fig. 2 on MNIST: below the activations, our training cost beside the public notebook's
    validation cost (docs/paper.md §6), labelled as the notebook's, never as the paper's."""
    from glorot_repro.analysis.figures.training import mean_std_bars
    from glorot_repro.analysis.paper import NOTEBOOK_LABEL, NOTEBOOK_MNIST_COST
    steps = (0, 200_000, 400_000)
    table = pd.DataFrame(scalar_rows("sigmoid", "standard", [
        (tag, s, v) for s in steps for tag, v in (("act/layer1/mean", 0.5), ("act/layer1/std", 0.1),
                                                  ("loss/train", 2.3 if s < 300_000 else 0.9))]))
    fig = mean_std_bars(table, "sigmoid", "standard", cost_readings=NOTEBOOK_MNIST_COST,
                        cost_label=NOTEBOOK_LABEL)
    assert len(fig.axes) == 2
    cost, *marks = fig.axes[1].get_lines()
    assert list(cost.get_ydata()) == [2.3, 2.3, 0.9]
    assert [(m.get_xdata()[0], m.get_ydata()[0]) for m in marks] == [(280, 2.30), (300, 2.21),
                                                                     (320, 1.71), (400, 0.85)]
    assert marks[0].get_label() == NOTEBOOK_LABEL
    plt.close(fig)


def test_per_layer_figures_draw_every_hidden_layer_of_a_deep_net():
    # Depth 20: one line per hidden layer, each its own colour; W^{21} (softmax) is not drawn.
    from glorot_repro.analysis.figures.training import mean_std_bars, weight_gradient_spread
    depth = 20
    run = {**RUN, "depth": depth}
    rows = []
    for init in ("standard", "normalized"):
        for l in range(1, depth + 2):
            stats = ["batch_std"] + (["std", "mean", "abs_p98"] if l <= depth else [])
            rows += [{**run, "run": f"tanh_{init}", "activation": "tanh", "init": init,
                      "tag": f"{q}/layer{l}/{stat}", "step": step, "value": 0.1 * l}
                     for stat in stats for step in (0, 1000)
                     for q in (["wgrad"] if stat == "batch_std" else ["act"])]
    table = pd.DataFrame(rows)
    hist = pd.DataFrame([{**run, "run": "r", "activation": "tanh", "init": "standard",
                          "tag": f"wgrad/layer{l}", "step": 0, "counts": [1.0] * 10,
                          "limits": list(np.linspace(-0.8, 1.0, 10))} for l in range(1, depth + 2)])
    figures = [saturation_panels(table, [("tanh", "standard")]),
               mean_std_bars(table, "tanh", "standard"),
               weight_gradient_spread(table),
               layer_histogram_panels(hist, "wgrad", [("tanh", "standard")])]
    for fig in figures:
        handles, labels = fig.axes[0].get_legend_handles_labels()
        layer_labels = [l for l in labels if l.startswith("Layer")]
        assert layer_labels == [f"Layer {l}" for l in range(1, depth + 1)]
        colours = {h.get_color() if hasattr(h, "get_color") else h.lines[0].get_color()
                   for h, l in zip(handles, labels) if l.startswith("Layer")}
        assert len(colours) == depth
        plt.close(fig)
