"""Errors a user can fix, reported by the CLI as one line (exit status 2)."""


class OptionsError(ValueError):
    """An option value or input choice the generator cannot work with; the message names it."""
