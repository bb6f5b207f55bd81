"""Hydra callbacks of `python -m glorot_repro.train`, registered with the schema (config.py).

CheckAtStart rejects a bad config, or a dataset whose files are missing, before Hydra creates
the run dir, so a rejected command leaves nothing behind, and locks the dir before Hydra writes its
log there, so that a second process on it stops in one line; SweepLogs says where a multirun's logs went, for the whole sweep at once."""
from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from glorot_repro.command.validate import validate
from glorot_repro.errors import USER_ERRORS, RunDirError, exit_with
from glorot_repro.rundir.lock import acquire

log = logging.getLogger(__name__)


class CheckAtStart(Callback):
    """The checks that need the composed config but no data loaded (the dataset's files are
    looked for, not read), then the run (or sweep) dir, created here rather than by Hydra so that
    one that cannot be written is named in one line (Hydra's own failure there is a traceback).
    A sweep checks every job's config before its dir is made, so a bad job stops the sweep before
    any job has run or anything is written."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        # Hydra turns a callback's exception into a warning and goes on: the error exits here.
        try:
            check_job(config)
            make_output_dir(config.hydra.run.dir, "hydra.run.dir")
            acquire(config.hydra.run.dir)  # held until the process exits; train() nests it
        except USER_ERRORS as err:
            exit_with(err)

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        try:
            check_sweep(config)
            make_output_dir(config.hydra.sweep.dir, "hydra.sweep.dir")
            acquire(config.hydra.sweep.dir)
        except USER_ERRORS as err:
            exit_with(err)


def check_job(config: DictConfig) -> None:
    """Raise the first bad value of one run's config, or the dataset files it lacks."""
    validate(config)  # imports torch only once the numbers have passed
    from glorot_repro.data import check_files  # torch, too
    from glorot_repro.training.device import resolve_device
    from glorot_repro.training.step import check_step

    check_step(config.train, resolve_device(config.device))
    check_files(config.dataset)


BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


def check_sweep(config: DictConfig) -> None:
    """check_job on each job of a sweep, composed as Hydra's basic sweeper composes it (its
    params from the config, then the command line's); the error names the job by its swept
    values. A sweeper plugin that picks its own jobs (e.g. Optuna) is left to check them."""
    if config.hydra.sweeper.get("_target_") != BASIC_SWEEPER:
        return
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    params = [f"{key}={value}" for key, value in (config.hydra.sweeper.get("params") or {}).items()]
    overrides = OverridesParser.create().parse_overrides(params + list(config.hydra.overrides.task))
    swept = {o.get_key_element() for o in overrides if o.is_sweep_override()}
    loader = GlobalHydra.instance().config_loader()
    for batch in BasicSweeper.split_arguments(overrides, None):
        for job in batch:
            try:
                check_job(loader.load_sweep_config(config, job))
            except USER_ERRORS as err:
                named = " ".join(o for o in job if o.split("=", 1)[0] in swept)
                raise type(err)(f"the sweep's job {named or ' '.join(job)}: {err}") from None


class SweepLogs(Callback):
    """Each job names its own run dir; a sweep also gets one line for all of them, and, when a
    launcher sends the jobs' output to files (submitit), the line that says where."""

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        folder = config.hydra.launcher.get("submitit_folder")
        if folder:
            log.info("each job's output goes to %s (%%j: the job's id)", folder)

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        log.info("view the whole sweep: tensorboard --logdir %s", config.hydra.sweep.dir)


def make_output_dir(path: str, key: str) -> None:
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
        if not os.access(path, os.W_OK):  # an existing dir we may not write into
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
    except OSError as err:
        raise RunDirError(f"cannot write the output dir {path} ({err.strerror or err}); set {key} "
                          f"to a writable directory") from None
