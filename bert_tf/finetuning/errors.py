"""Errors a user can fix, raised by a fine-tuning run before or while it trains."""


class FinetuneError(ValueError):
    """A bad option, a run directory holding another run, an init without a vocab..."""
