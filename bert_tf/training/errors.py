"""Errors of a training run that the user can act on (the CLI prints them as one line, exit status 2)."""


class PreflightError(ValueError):
    """The run cannot start: data, flags, config or run directory disagree; the message says how."""


class DivergedError(RuntimeError):
    """The loss became NaN or infinite; the last checkpoint on disk is the last good one."""


class DataError(RuntimeError):
    """An input file cannot be read (a corrupt or truncated TFRecord); the message names it."""
