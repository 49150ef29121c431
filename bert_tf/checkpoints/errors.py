"""Errors raised while reading or writing checkpoints."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded into the requested model: the message says why."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """The path names no checkpoint we can read."""
