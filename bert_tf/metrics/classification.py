"""GLUE metrics on plain arrays: accuracy, F1 of the positive class (MRPC, QQP), Matthews correlation
(CoLA), Pearson and Spearman correlation (STS-B). Written with numpy only, so evaluation needs no
scikit-learn or scipy; `tests/test_finetune_metrics.py` checks them against those."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def accuracy(labels: Sequence, predictions: Sequence) -> float:
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    return float((labels == predictions).mean()) if labels.size else 0.0


def binary_f1(labels: Sequence[int], predictions: Sequence[int], positive: int = 1) -> float:
    """F1 of the positive class, as GLUE reports it for MRPC and QQP (0 when nothing is predicted or true)."""
    labels, predictions = np.asarray(labels) == positive, np.asarray(predictions) == positive
    tp = float((labels & predictions).sum())
    denominator = float(labels.sum() + predictions.sum())
    return 2 * tp / denominator if denominator else 0.0


def matthews_corrcoef(labels: Sequence[int], predictions: Sequence[int]) -> float:
    """Matthews correlation for any number of classes (the multiclass form scikit-learn uses); 0 when undefined."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    classes = np.union1d(labels, predictions)
    confusion = np.zeros((classes.size, classes.size), np.float64)
    np.add.at(confusion, (np.searchsorted(classes, labels), np.searchsorted(classes, predictions)), 1)
    t, p = confusion.sum(axis=1), confusion.sum(axis=0)
    c, s = np.trace(confusion), confusion.sum()
    denominator = np.sqrt((s * s - p @ p) * (s * s - t @ t))
    return float((c * s - t @ p) / denominator) if denominator else 0.0


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    x, y = x - x.mean(), y - y.mean()
    denominator = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denominator) if denominator else 0.0


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties sharing their average rank (scipy's `rankdata(method="average")`)."""
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    starts = np.r_[True, sorted_x[1:] != sorted_x[:-1]]
    group = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    counts = np.diff(np.r_[first, x.size])
    ranks = np.empty(x.size, np.float64)
    ranks[order] = first[group] + (counts[group] + 1) / 2.0
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    return pearson(_average_ranks(np.asarray(x, np.float64)), _average_ranks(np.asarray(y, np.float64)))


METRICS = {"accuracy": accuracy, "f1": binary_f1, "mcc": matthews_corrcoef, "pearson": pearson,
           "spearman": spearman}


def classification_metrics(labels: Sequence, predictions: Sequence, names: Sequence[str]) -> dict[str, float]:
    """`{name: value}` for the named metrics (`accuracy`, `f1`, `mcc`, `pearson`, `spearman`)."""
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {', '.join(unknown)}; known: {', '.join(METRICS)}")
    return {name: METRICS[name](labels, predictions) for name in names}
