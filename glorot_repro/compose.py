"""Compose the project's Hydra config without running Hydra's app (tests, scripts, notebooks)."""
from __future__ import annotations

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from glorot_repro.config import CONF_DIR, check_override_keys, register_configs


def compose_config(overrides: list[str] | None = None, hydra: bool = False) -> DictConfig:
    """The config `python -m glorot_repro.train <overrides>` would run with (with `hydra`, also
    Hydra's own node: the sweep, the run dirs)."""
    overrides = list(overrides or [])
    register_configs()
    check_override_keys(overrides)
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=overrides, return_hydra_config=hydra)
