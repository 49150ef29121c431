"""Entity-level precision, recall and F1 with the rules of CoNLL's `conlleval` script.

A chunk starts at a `B-` (or `S-`) tag, at an `I-`/`E-` tag that follows `O` or an end tag, or at any
tag whose type differs from the previous one; it ends where the next one starts or at `O`. So a
stray `I-PER` after `O` opens an entity (IOB1 and IOB2 are both read correctly) and `B-PER I-LOC` is
two entities. An entity counts as correct only when type, start and end all match. Sentences are
scored separately (a chunk never crosses a sentence break). Tags without a prefix (`PER`) are read
as `I-PER`, as conlleval does.
"""

from __future__ import annotations

from typing import Sequence


def _split(tag: str) -> tuple[str, str]:
    if tag in ("O", ""):
        return "O", ""
    if len(tag) > 2 and tag[1] == "-" and tag[0] in "BIES":
        return tag[0], tag[2:]
    return "I", tag


def _ends(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    if prev_tag in ("E", "S"):
        return True
    if prev_tag in ("B", "I") and tag in ("B", "S", "O"):
        return True
    return prev_tag != "O" and prev_type != type_


def _starts(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    if tag in ("B", "S"):
        return True
    if tag in ("I", "E") and prev_tag in ("E", "S", "O"):
        return True
    return tag != "O" and prev_type != type_


def extract_entities(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """`(type, first, last)` (inclusive word indices) of each entity in one sentence's tags."""
    entities, start = [], None
    prev_tag, prev_type = "O", ""
    for i, raw in enumerate(list(tags) + ["O"]):
        tag, type_ = _split(raw)
        if start is not None and _ends(prev_tag, tag, prev_type, type_):
            entities.append((prev_type, start, i - 1))
            start = None
        if _starts(prev_tag, tag, prev_type, type_):
            start = i
        prev_tag, prev_type = tag, type_
    return entities


def entity_scores(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> dict:
    """conlleval's overall and per-type precision/recall/F1 (fractions, not percent) and token accuracy.

    `gold` and `predicted` are lists of sentences, each a list of tags of the same length.
    """
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted")
    found_gold, found_pred, correct = {}, {}, {}
    tokens = right_tokens = 0
    for n, (g, p) in enumerate(zip(gold, predicted)):
        if len(g) != len(p):
            raise ValueError(f"sentence {n}: {len(g)} gold tags but {len(p)} predicted")
        gold_entities, pred_entities = set(extract_entities(g)), set(extract_entities(p))
        for entities, counter in ((gold_entities, found_gold), (pred_entities, found_pred),
                                  (gold_entities & pred_entities, correct)):
            for type_, _, _ in entities:
                counter[type_] = counter.get(type_, 0) + 1
        tokens += len(g)
        right_tokens += sum(a == b for a, b in zip(g, p))

    def prf(c: int, fp: int, fg: int) -> dict[str, float]:
        precision = c / fp if fp else 0.0
        recall = c / fg if fg else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"precision": precision, "recall": recall, "f1": f1, "support": fg}

    result = prf(sum(correct.values()), sum(found_pred.values()), sum(found_gold.values()))
    result["accuracy"] = right_tokens / tokens if tokens else 0.0
    result["per_type"] = {t: prf(correct.get(t, 0), found_pred.get(t, 0), found_gold.get(t, 0))
                          for t in sorted(set(found_gold) | set(found_pred))}
    return result
