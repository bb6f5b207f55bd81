"""Hydra's and OmegaConf's errors about the command line, said in one line.

Hydra prints these as 4-19 lines (the search path, a hint about HYDRA_FULL_ERROR) and exits 1;
the command says what was wrong and what is valid, like its own checks (glorot_repro/errors.py)."""
from __future__ import annotations

from hydra.errors import HydraException, MissingConfigException, OverrideParseException
from omegaconf.errors import OmegaConfBaseException

COMMAND_LINE_ERRORS = (HydraException, OmegaConfBaseException)
GRAMMAR = "https://hydra.cc/docs/advanced/override_grammar/basic/"


def one_line(err: BaseException) -> str:
    """The message of a Hydra or OmegaConf error that names the bad value and the valid ones."""
    if isinstance(err, MissingConfigException) and err.options and err.missing_cfg_file:
        group, _, name = err.missing_cfg_file.rpartition("/")
        return f"{group}={name!r} is not valid; choose one of: {', '.join(err.options)}"
    if isinstance(err, OverrideParseException):
        reason = _lines(err.message)[1:2] or ["not key=value"]
        return (f"cannot read the override {err.override!r} ({reason[0]}); write key=value, "
                f"e.g. model.width=64 (grammar: {GRAMMAR})")
    cause = err.__cause__
    if isinstance(cause, OmegaConfBaseException) and getattr(cause, "full_key", None):
        # e.g. "train.lr: Value 'fast' of type 'str' could not be converted to Float"
        return f"{cause.full_key}: {_lines(cause.msg)[0]}"
    return "; ".join(_lines(str(err)))


def _lines(text: str) -> list[str]:
    """The message's non-empty lines, up to the config search path Hydra appends."""
    text = text.split("Config search path", 1)[0]
    return [line.strip() for line in text.splitlines() if line.strip()]
