"""SQuAD exact match and F1, exactly as the official evaluation scripts compute them.

v1.1 (`evaluate-v1.1.py`): answers normalised (lower case, punctuation removed, the articles
a/an/the removed, whitespace collapsed); EM and F1 take the maximum over the gold answers; a
question with no prediction scores 0; F1 of two empty normalised strings is 0 (EM is 1).

v2.0 (`evaluate-v2.0.py`): the same normalisation, but gold answers that normalise to "" are dropped
and an unanswerable question has the gold answer ""; F1 is 1 when both sides are empty and 0 when
only one is. Scores are percentages, like the scripts print them; v2.0 also reports the HasAns and
NoAns halves.
"""

from __future__ import annotations

import collections
import re
import string
from typing import Mapping

_PUNCTUATION = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(text: str) -> str:
    """Lower case, no punctuation, no articles, single spaces (the official `normalize_answer`)."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _overlap_f1(prediction_tokens: list[str], gold_tokens: list[str]) -> float:
    common = collections.Counter(prediction_tokens) & collections.Counter(gold_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(prediction_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def _v1_f1(prediction: str, gold: str) -> float:
    return _overlap_f1(normalize_answer(prediction).split(), normalize_answer(gold).split())


def _v2_f1(prediction: str, gold: str) -> float:
    prediction_tokens, gold_tokens = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not prediction_tokens or not gold_tokens:
        return float(prediction_tokens == gold_tokens)
    return _overlap_f1(prediction_tokens, gold_tokens)


def squad_v1_scores(gold_answers: Mapping[str, list[str]], predictions: Mapping[str, str]) -> dict[str, float]:
    """`{"exact_match", "f1"}` in percent over every question in `gold_answers` (question id -> answer texts)."""
    exact = f1 = 0.0
    for qid, golds in gold_answers.items():
        if qid not in predictions:
            continue  # the script prints a message and scores the question 0
        prediction = predictions[qid]
        exact += max(float(normalize_answer(prediction) == normalize_answer(g)) for g in golds)
        f1 += max(_v1_f1(prediction, g) for g in golds)
    total = len(gold_answers)
    return {"exact_match": 100.0 * exact / total if total else 0.0, "f1": 100.0 * f1 / total if total else 0.0}


def squad_v2_scores(gold_answers: Mapping[str, list[str]], predictions: Mapping[str, str]) -> dict[str, float]:
    """`{"exact", "f1", "total", "HasAns_*", "NoAns_*"}` like `evaluate-v2.0.py` (no probability file).

    `gold_answers` maps question id to its answer texts; an empty list marks an unanswerable question.
    """
    exact, f1, has_answer = {}, {}, {}
    for qid, golds in gold_answers.items():
        golds = [g for g in golds if normalize_answer(g)] or [""]
        has_answer[qid] = golds != [""]
        if qid not in predictions:
            continue  # missing: counted in the total with a score of 0, as the script does
        prediction = predictions[qid]
        exact[qid] = max(float(normalize_answer(prediction) == normalize_answer(g)) for g in golds)
        f1[qid] = max(_v2_f1(prediction, g) for g in golds)

    def summary(ids: list[str]) -> dict[str, float]:
        n = len(ids)
        return {"exact": 100.0 * sum(exact.get(q, 0.0) for q in ids) / n if n else 0.0,
                "f1": 100.0 * sum(f1.get(q, 0.0) for q in ids) / n if n else 0.0, "total": n}

    result = summary(list(gold_answers))
    for name, wanted in (("HasAns", True), ("NoAns", False)):
        ids = [q for q in gold_answers if has_answer[q] == wanted]
        if ids:
            result.update({f"{name}_{k}": v for k, v in summary(ids).items()})
    return result
