"""The learning-rate pilot's choice (analysis/pilot.py) on tidy tables made here: the lowest
validation error over the last evaluations, diverged rates not eligible, edges flagged."""
import pandas as pd

from glorot_repro.analysis.pilot import pilot_table

RUN = {"dataset": "shapeset", "activation": "tanh", "signed_pixels": False}


def curve(init, lr, valid, steps=None):
    steps = steps or range(0, 2000 * len(valid), 2000)
    return [{**RUN, "init": init, "lr": lr, "tag": tag, "step": s, "value": v}
            for s, v in zip(steps, valid) for tag in ("error/valid", "error/test")]


def test_pilot_chooses_on_the_last_evaluations_and_flags_edges():
    rows = (curve("standard", 0.01, [90, 80, 70, 60, 50])      # last two: 55
            + curve("standard", 0.03, [90, 40, 45, 60, 60])    # best early, worse at the end: 60
            + curve("standard", 0.1, [90, 30, 20])             # ended early (diverged): ineligible
            + curve("normalized", 0.01, [90, 80, 70, 65, 64])
            + curve("normalized", 0.03, [90, 70, 60, 50, 40]))  # the grid's top: an edge
    table = pilot_table(pd.DataFrame(rows), last=2)
    chosen = table[table.chosen].set_index("init")
    assert chosen.lr.to_dict() == {"normalized": 0.03, "standard": 0.01}
    assert chosen.valid_error.to_dict() == {"normalized": 45.0, "standard": 55.0}
    assert chosen.edge.to_dict() == {"normalized": True, "standard": True}
    interior = pilot_table(pd.DataFrame(rows + curve("standard", 0.003, [95, 90, 88, 87, 86])),
                           last=2)
    assert not interior[interior.chosen & (interior.init == "standard")].edge.item()
    assert table[table.lr == 0.1].updates.item() == 4000
