"""The command `python -m glorot_repro.train <overrides>`: a thin Hydra wrapper around the
training function it is given (glorot_repro/train.py's train) that says any bad input in one line and exit status 2 (the config is checked before
Hydra creates the run dir: glorot_repro/command/callbacks.py), Ctrl-C before training in one line and 130."""
from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING, Callable

from glorot_repro.errors import USER_ERRORS, exit_with

if TYPE_CHECKING:
    from omegaconf import DictConfig

# Only the standard library above: the command's start (--help, a bad command line, Ctrl-C)
# needs none of torch, which train() imports when it runs.
log = logging.getLogger(__name__)


Train = Callable[["DictConfig", str], dict]  # train(cfg, run_dir) -> the run's summary


def job(train: Train, cfg: DictConfig) -> None:
    """One Hydra job: a run, or one run of a sweep."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra_cfg = HydraConfig.get()
    try:
        summary = train(cfg, hydra_cfg.runtime.output_dir)
    except USER_ERRORS as err:  # found while loading data or resuming: train.log keeps it too
        log_to_files(f"error: {err}")
        exit_with(err)
    sweep = hydra_cfg.mode == RunMode.MULTIRUN
    if summary["status"] == "interrupted":
        # Ctrl-C or SIGTERM stops the whole sweep, not just its current job. Rerunning the sweep
        # resumes each job: finished ones end at once with the numbers they had.
        if sweep:
            log.warning("sweep stopped; to resume it, rerun the same command with "
                        "hydra.sweep.dir=%s", hydra_cfg.sweep.dir)
        sys.exit(1)
    # A diverged single run exits non-zero; in a sweep the other jobs carry on.
    if summary["status"] != "completed" and not sweep:
        sys.exit(1)


def log_to_files(message: str) -> None:
    """An error record in the job's log files (train.log) alone: the console gets the message as
    exit_with's one line on stderr."""
    record = log.makeRecord(log.name, logging.ERROR, __file__, 0, message, None, None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def main(train: Train) -> None:
    """`python -m glorot_repro.train <overrides>`: every bad input ends in one line and exit
    status 2, Ctrl-C before training in one line and 130, like the shell's."""
    try:
        run_command(train, sys.argv[1:])
    except KeyboardInterrupt:  # during the imports, or a second Ctrl-C in training
        print("interrupted (Ctrl-C)", file=sys.stderr)
        sys.exit(130)


def run_command(train: Train, overrides: list[str]) -> None:
    import hydra

    from glorot_repro.command.compose import register_configs
    from glorot_repro.command.hydra_errors import COMMAND_LINE_ERRORS, one_line
    from glorot_repro.command.validate import CONF_DIR, check_override_keys

    # Hydra prints its own errors (a bad option, value or override) as many lines and exits 1;
    # with HYDRA_FULL_ERROR set it raises them instead, and they are said here in one line, unless
    # the user set it to see Hydra's full report.
    full_report = os.environ.get("HYDRA_FULL_ERROR") == "1"
    os.environ["HYDRA_FULL_ERROR"] = "1"
    # A log line that cannot be written (train.log on a full disk) is dropped, not reported by a
    # traceback of its own: the run's own writes fail on the same disk and end it in one line.
    logging.raiseExceptions = False
    register_configs()
    try:
        check_override_keys(overrides)
        def task(cfg: DictConfig) -> None:
            job(train, cfg)

        hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")(task)()
    except USER_ERRORS as err:
        exit_with(err)
    except COMMAND_LINE_ERRORS as err:
        if full_report:
            raise
        exit_with(one_line(err))
