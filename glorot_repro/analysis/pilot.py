"""The learning-rate pilot, before any long run (conf/experiment/pilot.yaml). The paper chose each
row's learning rate on validation error; here each (dataset, activation, init, pixel range) takes
the grid point whose validation error, averaged over the last LAST evaluations of a short run, is
lowest. A rate whose run ended early (diverged) is not eligible. A choice on the grid's edge is
flagged: the grid should be extended past it before the long runs."""
from __future__ import annotations

import pandas as pd

from glorot_repro.measure import tags

LAST = 5  # evaluations averaged: at the pilot's eval_every=2000, its last 8k of 30k updates
PILOT_KEYS = ["dataset", "activation", "init", "signed_pixels"]


def pilot_table(scalars: pd.DataFrame, last: int = LAST) -> pd.DataFrame:
    """One row per pilot run: PILOT_KEYS, lr, updates (its last evaluation), valid and test
    error averaged over its last `last` evaluations, and whether its lr is the row's choice
    (`chosen`) and on the edge of the row's grid (`edge`)."""
    rows = []
    errors = scalars[scalars.tag.isin([tags.ERROR_VALID, tags.ERROR_TEST])]
    for (*key, lr), run in errors.groupby(PILOT_KEYS + ["lr"]):
        by_tag = {t: g.groupby("step").value.mean().sort_index() for t, g in run.groupby("tag")}
        valid, test = by_tag[tags.ERROR_VALID], by_tag[tags.ERROR_TEST]
        rows.append({**dict(zip(PILOT_KEYS, key)), "lr": lr, "updates": int(valid.index.max()),
                     "valid_error": valid.iloc[-last:].mean(), "test_error": test.iloc[-last:].mean()})
    table = pd.DataFrame(rows)
    table["chosen"] = False
    table["edge"] = False
    for _, row in table.groupby(PILOT_KEYS):
        complete = row[row.updates == row.updates.max()]  # the others ended early: diverged
        best = complete.valid_error.idxmin()
        table.loc[best, "chosen"] = True
        table.loc[best, "edge"] = table.lr[best] in (row.lr.min(), row.lr.max())
    return table.sort_values(PILOT_KEYS + ["lr"]).reset_index(drop=True)


def chosen_lr(table: pd.DataFrame, dataset: str, activation: str, init: str,
              signed_pixels: bool = False) -> float:
    """The pilot's choice for one row (a table as pilot_table writes it, e.g. read back from
    results/tables/pilot_long.csv). LookupError, naming the rows the table has, where the row
    was not piloted."""
    key = dict(zip(PILOT_KEYS, (dataset, activation, init, signed_pixels)))
    chosen = table[table.chosen.astype(bool)]
    match = chosen[(chosen[PILOT_KEYS] == pd.Series(key)).all(axis=1)]
    if match.empty:
        piloted = ", ".join(sorted({"/".join(map(str, r))
                                    for r in chosen[PILOT_KEYS].itertuples(index=False)}))
        raise LookupError(f"no pilot choice for {'/'.join(map(str, key.values()))} "
                          f"(piloted: {piloted or 'none'})")
    return float(match.lr.iloc[0])


def shapeset_rates(table: pd.DataFrame, signed_pixels: bool = False) -> dict[tuple[str, str], float]:
    """The pilot's rate for each tanh and softsign row on Shapeset ({(activation, init): lr}):
    the rates experiment=rates and the pixel-range rule start from."""
    return {(a, i): chosen_lr(table, "shapeset", a, i, signed_pixels)
            for a in ("tanh", "softsign") for i in ("standard", "normalized")}
