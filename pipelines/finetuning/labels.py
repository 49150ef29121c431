"""Label lists: inferred from the training file (sorted, numerically when they are numbers) or given,
and every label of every file checked against it."""

from __future__ import annotations

from typing import Sequence

from pipelines.finetuning.errors import FinetuneDataError


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def infer_label_list(labels: Sequence[str]) -> list[str]:
    distinct = sorted(set(labels))
    if all(_is_number(l) for l in distinct):
        distinct.sort(key=float)
    return distinct


def encode_labels(labels: Sequence[str], label_list: Sequence[str], path: str, lines: Sequence[int]) -> list[int]:
    """Label ids; a label outside `label_list` is an error naming its file and line."""
    index = {label: i for i, label in enumerate(label_list)}
    ids = []
    for label, line in zip(labels, lines):
        if label not in index:
            raise FinetuneDataError(f"{path}:{line}: label {label!r} is not one of the training labels "
                                    f"({', '.join(map(repr, label_list))}); pass --labels to set the list")
        ids.append(index[label])
    return ids


def parse_scores(labels: Sequence[str], path: str, lines: Sequence[int]) -> list[float]:
    """Regression targets; a value that is not a number is an error naming its file and line."""
    scores = []
    for label, line in zip(labels, lines):
        try:
            scores.append(float(label))
        except ValueError:
            raise FinetuneDataError(f"{path}:{line}: regression target {label!r} is not a number") from None
    return scores
