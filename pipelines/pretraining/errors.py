"""Errors a user can fix, reported by the CLI as one line (exit status 2)."""


class OptionsError(ValueError):
    """An option value or input choice the generator cannot work with; the message names it."""


class PipelineRunError(RuntimeError):
    """The Beam pipeline failed while making blocks (a worker error, a lost worker, a cancelled job).
    The blocks it finished are kept in `.work/`: the same command resumes from them."""
