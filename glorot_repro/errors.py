"""User-facing errors: each carries a one-line message that names the bad value and what is valid."""
from __future__ import annotations

import sys
from typing import Mapping, NoReturn, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value the study cannot run with."""


class ResumeError(RuntimeError):
    """A run dir whose checkpoints cannot be resumed as they stand."""


class RunDirError(RuntimeError):
    """A run dir that cannot be written: a path under a file, no permission, a full disk."""


class DatasetError(RuntimeError):
    """Missing or malformed dataset files: the message names the expected path and format."""


# What the command reports as one line and exit status 2; anything else is a bug, with a traceback.
USER_ERRORS = (ConfigError, ResumeError, RunDirError, DatasetError)


RUN_DIR_HINT = ("free space or fix permissions, then rerun the same command to resume from the "
                "last checkpoint")


def lookup(registry: Mapping[str, T], name: str, what: str) -> T:
    """`registry[name]`, or a ConfigError listing the valid names."""
    try:
        return registry[name]
    except KeyError:
        valid = ", ".join(sorted(registry))
        raise ConfigError(f"unknown {what} {name!r}; valid: {valid}") from None


def exit_with(message: object) -> NoReturn:
    """The command's way out on bad input: one line on stderr, exit status 2 (a usage error)."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)
