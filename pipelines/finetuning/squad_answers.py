"""From start/end logits to answer text, as the original `run_squad.py` `write_predictions` does it.

Per question, over all its windows: the `n_best_size` highest start and end logits give candidate
spans; a span must lie in the context, start in the window where its first piece has the most
context, end at or after its start and be at most `max_answer_length` pieces. Candidates are ranked
by start + end logit. A span's text is taken from the original context: the pieces' text (with
`##` glued) is located inside the normalised words of the original span and mapped back character
by character (`get_final_text`), so "Steve Smith's" comes back with its case and apostrophe even
though the pieces are "steve smith ' s". SQuAD 2.0: the null answer (both logits at `[CLS]`, the
lowest over the windows) wins when it beats the best span by more than `null_score_diff_threshold`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from pipelines.finetuning.squad import SquadData, SquadFeatures


@dataclasses.dataclass
class _Candidate:
    window: int
    start: int
    end: int
    start_logit: float
    end_logit: float
    text: str = ""

    @property
    def score(self) -> float:
        return self.start_logit + self.end_logit


def _strip_spaces(text: str) -> tuple[str, dict[int, int]]:
    chars, to_original = [], {}
    for i, c in enumerate(text):
        if c == " ":
            continue
        to_original[len(chars)] = i
        chars.append(c)
    return "".join(chars), to_original


def final_text(piece_text: str, original_text: str, normalized_words: list[str]) -> str:
    """`piece_text` located in `original_text` (whose BasicTokenizer words are `normalized_words`)."""
    normalized = " ".join(normalized_words)
    start = normalized.find(piece_text)
    if start == -1:
        return original_text
    end = start + len(piece_text) - 1
    original_ns, original_map = _strip_spaces(original_text)
    normalized_ns, normalized_map = _strip_spaces(normalized)
    if len(original_ns) != len(normalized_ns):
        return original_text
    to_ns = {v: k for k, v in normalized_map.items()}
    first = original_map.get(to_ns.get(start, -1))
    last = original_map.get(to_ns.get(end, -1))
    if first is None or last is None:
        return original_text
    return original_text[first:last + 1]


def _top(values: np.ndarray, n: int) -> list[int]:
    return [int(i) for i in np.argsort(-values, kind="stable")[:n]]


def best_answers(data: SquadData, features: SquadFeatures, start_logits: list[np.ndarray],
                 end_logits: list[np.ndarray], tokenizer, n_best_size: int = 20, max_answer_length: int = 30,
                 version_2: bool = False, null_score_diff_threshold: float = 0.0
                 ) -> tuple[dict[str, str], dict[str, list[dict]]]:
    """`({question id: answer}, {question id: n-best list})` for every example in `data`."""
    from bert_tf.tokenization.basic import BasicTokenizer
    windows_of: dict[int, list[int]] = {}
    for w, e in enumerate(features.example_index):
        windows_of.setdefault(int(e), []).append(w)
    vocab = tokenizer.vocab
    per_example, null_scores = [], []
    for e_index, example in enumerate(data.examples):
        candidates, null = [], None
        for w in windows_of.get(e_index, []):
            starts, ends = start_logits[w], end_logits[w]
            mapping, best_context = features.token_to_word[w], features.max_context[w]
            if version_2:
                score = float(starts[0] + ends[0])
                if null is None or score < null[0]:
                    null = (score, w, float(starts[0]), float(ends[0]))
            for s in _top(starts, n_best_size):
                for e in _top(ends, n_best_size):
                    if s not in mapping or e not in mapping or not best_context.get(s, False):
                        continue
                    if e < s or e - s + 1 > max_answer_length:
                        continue
                    candidates.append(_Candidate(w, s, e, float(starts[s]), float(ends[e])))
        candidates.sort(key=lambda c: c.score, reverse=True)
        per_example.append(candidates[:n_best_size * 2])
        null_scores.append(null)

    # Every candidate's original words, normalised in one batched call.
    originals = []
    for e_index, candidates in enumerate(per_example):
        words = data.examples[e_index].doc_tokens
        for c in candidates:
            mapping = features.token_to_word[c.window]
            originals.append(" ".join(words[mapping[c.start]:mapping[c.end] + 1]))
    normalized = []
    if originals:
        basic = BasicTokenizer(tokenizer.lower_case)
        for start in range(0, len(originals), 8192):
            words = basic.tokenize(tf.constant(originals[start:start + 8192]))
            normalized.extend([[w.decode("utf-8") for w in row] for row in words.to_list()])

    predictions, nbest_all, at = {}, {}, 0
    for e_index, candidates in enumerate(per_example):
        example = data.examples[e_index]
        seen, nbest = set(), []
        for c in candidates:
            original, words = originals[at], normalized[at]
            at += 1
            if len(nbest) >= n_best_size:
                continue
            first = features.window_starts[c.window] + c.start - features.doc_offsets[c.window]
            last = features.window_starts[c.window] + c.end - features.doc_offsets[c.window]
            pieces = [vocab[i] for i in features.doc_pieces[e_index][first:last + 1]]
            piece_text = " ".join(" ".join(pieces).replace(" ##", "").replace("##", "").split())
            text = final_text(piece_text, original, words)
            if text in seen:
                continue
            seen.add(text)
            c.text = text
            nbest.append(c)
        null = null_scores[e_index]
        entries = [{"text": c.text, "start_logit": c.start_logit, "end_logit": c.end_logit} for c in nbest]
        if version_2 and null is not None and "" not in seen:
            entries.append({"text": "", "start_logit": null[2], "end_logit": null[3]})
            entries.sort(key=lambda x: x["start_logit"] + x["end_logit"], reverse=True)
        if not entries:
            entries = [{"text": "empty", "start_logit": 0.0, "end_logit": 0.0}]
        scores = np.array([x["start_logit"] + x["end_logit"] for x in entries])
        probabilities = np.exp(scores - scores.max())
        probabilities /= probabilities.sum()
        for entry, p in zip(entries, probabilities):
            entry["probability"] = float(p)
        if version_2:
            best_span = next((c for c in nbest if c.text), None)
            if null is None or (best_span is not None and
                                null[0] - best_span.score <= null_score_diff_threshold):
                predictions[example.qid] = best_span.text if best_span else ""
            else:
                predictions[example.qid] = ""
        else:
            predictions[example.qid] = entries[0]["text"]
        nbest_all[example.qid] = entries
    return predictions, nbest_all
