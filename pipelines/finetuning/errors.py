"""The one error the fine-tuning readers raise: bad input data, with the file and line in the message."""


class FinetuneDataError(ValueError):
    """Input data we cannot use (ragged row, unknown label, answer offset that does not match its text...)."""
