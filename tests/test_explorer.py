"""The init explorer: its measurement against the variance analysis in the linear regime, and its
command end to end."""
import subprocess
import sys

import pytest
import torch

from glorot_repro.errors import ConfigError
from glorot_repro.analysis.explorer import gaussian_batch, init_profile, parse_pairs

from conftest import REPO


@pytest.mark.parametrize("init", ["normalized", "standard", "orthogonal"])
def test_measured_matches_predicted_in_the_linear_regime(init):
    """Small centred inputs keep tanh in its linear regime, where eqs. 5-6 hold: over 10 layers of
    200 units each layer's measured std is within 20% of the prediction (flat for normalized and
    orthogonal init, shrinking by sqrt(1/3) per layer for standard init)."""
    x, y = gaussian_batch(300, 1024, 9, seed=0, device=torch.device("cpu"))
    profile = init_profile("tanh", init, depth=10, width=200, x=1e-2 * x, y=y, n_classes=9)
    assert len(profile) == 3 * 10 and profile.predicted.notna().all()
    ratio = profile.measured / profile.predicted
    assert ratio.between(0.8, 1.2).all(), profile[~ratio.between(0.8, 1.2)]


def test_no_prediction_where_theory_has_none():
    x, y = gaussian_batch(50, 30, 4, seed=0, device=torch.device("cpu"))
    relu = init_profile("relu", "he", depth=3, width=20, x=x, y=y, n_classes=4)
    assert relu[relu.quantity == "act"].predicted.isna().all()  # E[z^2] is not Var[z] for ReLU
    assert relu[relu.quantity != "act"].predicted.notna().all()
    sigmoid = init_profile("sigmoid", "standard", depth=3, width=20, x=x, y=y, n_classes=4)
    assert sigmoid.predicted.isna().all() and (sigmoid.measured > 0).all()


@pytest.mark.e2e
def test_explorer_command_writes_png_pdf_and_csv(tmp_path):
    out = tmp_path / "explored"
    res = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "init_explorer.py"), "--pairs",
         "tanh:standard,relu:he", "scale=smoke", "model.depth=12", "device=cpu", "--out", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    for suffix in (".png", ".pdf", ".csv"):
        assert out.with_suffix(suffix).stat().st_size > 0
    assert "layer" in out.with_suffix(".csv").read_text().splitlines()[0]


def test_pairs_are_parsed_and_bad_ones_named():
    assert parse_pairs("tanh:standard,relu:he") == [("tanh", "standard"), ("relu", "he")]
    with pytest.raises(ConfigError, match="unknown init 'xavier'; valid: he, lecun, normalized"):
        parse_pairs("tanh:xavier")
    with pytest.raises(ConfigError, match="'tanh' is not activation:init"):
        parse_pairs("tanh")
