"""Fine-tuning metrics: GLUE figures against scikit-learn/scipy, SQuAD EM/F1 on hand-scored cases, entity F1
against hand-counted conlleval cases and seqeval's conlleval-compatible default mode."""

import numpy as np
import pytest

from bert_tf.metrics import (binary_f1, entity_scores, extract_entities, matthews_corrcoef, normalize_answer,
                             pearson, spearman, squad_v1_scores, squad_v2_scores)


def test_glue_metrics_match_scikit_learn_and_scipy():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    for _ in range(20):
        y, p = rng.integers(0, 2, 50), rng.integers(0, 2, 50)
        assert binary_f1(y, p) == pytest.approx(sklearn_metrics.f1_score(y, p), abs=1e-12)
        assert matthews_corrcoef(y, p) == pytest.approx(sklearn_metrics.matthews_corrcoef(y, p), abs=1e-12)
        y3, p3 = rng.integers(0, 3, 60), rng.integers(0, 3, 60)
        assert matthews_corrcoef(y3, p3) == pytest.approx(sklearn_metrics.matthews_corrcoef(y3, p3), abs=1e-12)
        a, b = rng.integers(0, 6, 40).astype(float), rng.normal(size=40)  # ties in a
        assert pearson(a, b) == pytest.approx(stats.pearsonr(a, b)[0], abs=1e-12)
        assert spearman(a, b) == pytest.approx(stats.spearmanr(a, b)[0], abs=1e-12)
    assert matthews_corrcoef([1, 1, 1], [1, 1, 1]) == 0.0  # undefined: 0, as scikit-learn


def test_squad_v1_scores_on_hand_scored_predictions():
    gold = {"q1": ["Eiffel Tower"], "q2": ["1889", "in the year 1889"], "q3": ["paris france"],
            "q4": ["Gustave Eiffel"], "q5": ["the"], "q6": ["red blue green"]}
    predictions = {"q1": "the Eiffel Tower",  # article dropped: EM 1, F1 1
                   "q2": "in 1889",  # vs "in year 1889": P 2/2, R 2/3 -> F1 0.8; EM 0
                   "q3": "Paris, France!",  # punctuation and case: EM 1
                   # q4 missing: 0 and 0
                   "q5": "a",  # both normalise to "": EM 1, but the v1.1 F1 of empty token lists is 0
                   "q6": "blue red"}  # P 1, R 2/3 -> F1 0.8
    scores = squad_v1_scores(gold, predictions)
    assert scores["exact_match"] == pytest.approx(100 * 3 / 6)
    assert scores["f1"] == pytest.approx(100 * (1 + 0.8 + 1 + 0 + 0 + 0.8) / 6)
    assert normalize_answer("  The  Quick,  brown fox's ") == "quick brown foxs"


def test_squad_v2_scores_on_hand_scored_predictions():
    gold = {"a": ["Denver Broncos"], "b": [], "c": [], "d": ["the"], "e": ["Super Bowl 50"]}
    predictions = {"a": "Broncos",  # P 1, R 1/2 -> F1 2/3
                   "b": "",  # unanswerable, abstained: 1 and 1
                   "c": "Denver",  # unanswerable, answered: 0 and 0
                   "d": "",  # gold normalises to "": treated as unanswerable; 1 and 1
                   "e": ""}  # answerable, abstained: 0 and 0
    s = squad_v2_scores(gold, predictions)
    assert s["total"] == 5 and s["HasAns_total"] == 2 and s["NoAns_total"] == 3
    assert s["exact"] == pytest.approx(100 * 2 / 5)
    assert s["f1"] == pytest.approx(100 * (2 / 3 + 1 + 0 + 1 + 0) / 5)
    assert s["HasAns_f1"] == pytest.approx(100 * (2 / 3) / 2)
    assert s["NoAns_exact"] == pytest.approx(100 * 2 / 3)


@pytest.mark.parametrize("tags, entities", [
    (["B-PER", "I-PER", "O", "B-LOC"], [("PER", 0, 1), ("LOC", 3, 3)]),
    (["B-PER", "I-PER", "B-PER"], [("PER", 0, 1), ("PER", 2, 2)]),  # B- starts a new entity
    (["O", "I-LOC", "I-LOC"], [("LOC", 1, 2)]),  # IOB1: a stray I- opens an entity
    (["B-PER", "I-LOC"], [("PER", 0, 0), ("LOC", 1, 1)]),  # a type change splits
    (["I-ORG", "B-ORG", "I-ORG"], [("ORG", 0, 0), ("ORG", 1, 2)]),
    (["B-MISC"], [("MISC", 0, 0)]),
    (["O", "O"], []),
])
def test_conlleval_chunk_rules(tags, entities):
    assert extract_entities(tags) == entities


def test_entity_scores_by_hand():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-PER", "I-PER", "I-PER"], ["O", "B-LOC", "I-LOC"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["B-PER", "I-PER", "B-PER"], ["O", "I-LOC", "I-LOC"]]
    s = entity_scores(gold, pred)
    # gold: PER, LOC | PER | LOC (4); predicted: PER, ORG | PER, PER | LOC (5); correct: PER (s1), LOC (s3)
    assert (s["precision"], s["recall"]) == (pytest.approx(2 / 5), pytest.approx(2 / 4))
    assert s["f1"] == pytest.approx(2 * 0.4 * 0.5 / 0.9)
    assert s["per_type"]["PER"]["precision"] == pytest.approx(1 / 3) and s["per_type"]["PER"]["recall"] == 0.5
    assert s["per_type"]["ORG"]["f1"] == 0.0 and s["per_type"]["LOC"]["recall"] == 0.5
    assert s["accuracy"] == pytest.approx(7 / 10)  # tokens: 3 of 4, 2 of 3, 2 of 3 (B-LOC vs I-LOC differs)


def test_entity_scores_match_seqeval_conlleval_mode_on_random_tags():
    seqeval = pytest.importorskip("seqeval.metrics")
    rng = np.random.default_rng(1)
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "I-ORG"]
    for _ in range(30):
        gold = [[tags[i] for i in rng.integers(0, len(tags), rng.integers(1, 12))] for _ in range(8)]
        pred = [[t if rng.random() < 0.7 else tags[rng.integers(0, len(tags))] for t in s] for s in gold]
        ours = entity_scores(gold, pred)
        assert ours["f1"] == pytest.approx(seqeval.f1_score(gold, pred), abs=1e-12)
        assert ours["precision"] == pytest.approx(seqeval.precision_score(gold, pred), abs=1e-12)
        assert ours["recall"] == pytest.approx(seqeval.recall_score(gold, pred), abs=1e-12)
