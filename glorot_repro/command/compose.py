"""The project's Hydra config: the schema registered with Hydra, and composed without running
Hydra's app (tests, scripts, notebooks)."""
from __future__ import annotations

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf, open_dict

from glorot_repro.command.validate import CONF_DIR, check_override_keys
from glorot_repro.config import Config


def register_configs() -> None:
    node = OmegaConf.structured(Config)
    # The schema also brings the Hydra settings that are code, not configuration: callbacks that
    # check the config, then create and lock the output dir before Hydra does, so that a bad
    # value, an unwritable or a busy dir gives a one-line error and leaves nothing behind, and
    # that say where a sweep's logs went (callbacks.py); and no `.hydra/` written by Hydra: train() writes it once the run dir is known to be ours and resumable, so a refused
    # resume leaves the old run's config as it was.
    with open_dict(node):
        node.hydra = {"callbacks": {
            "start": {"_target_": "glorot_repro.command.callbacks.CheckAtStart"},
            "sweep_logs": {"_target_": "glorot_repro.command.callbacks.SweepLogs"}},
            "output_subdir": None}
    ConfigStore.instance().store(name="base_config", node=node)


def compose_config(overrides: list[str] | None = None, hydra: bool = False) -> DictConfig:
    """The config `python -m glorot_repro.train <overrides>` would run with (with `hydra`, also
    Hydra's own node: the sweep, the run dirs)."""
    overrides = list(overrides or [])
    register_configs()
    check_override_keys(overrides)
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=overrides, return_hydra_config=hydra)
