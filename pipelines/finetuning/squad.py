"""SQuAD v1.1 / v2.0 JSON into BERT windows, the way the original `run_squad.py` does it.

1. Read: the context is split on whitespace into words (`doc_tokens`), with a map from every
   character to its word; an answer's `answer_start` gives its first and last word. An answer whose
   offset does not point at its text is skipped and counted (listed by question id), as is one
   whose words do not contain it (the original's check).
2. Tokenize (TensorFlow ops, batched over the whole file): each question, each context word, each
   answer text. The answer's piece span is narrowed to the sub-span whose pieces equal the answer's
   own pieces (the original's `_improve_answer_span`, e.g. "(1895-1943)." -> "1895").
3. Windows: `[CLS] question [SEP] context-part [SEP]`, the question cut to `max_query_length`
   pieces, the context in windows of what is left, each starting `doc_stride` pieces after the last.
   A piece is scored in the window where it has the most context (`min(left, right) + 0.01 *
   length`). Training windows that do not hold the whole answer (and unanswerable questions) point
   at `[CLS]` (0, 0).
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import tensorflow as tf

from pipelines.finetuning.errors import FinetuneDataError


def _is_whitespace(c: str) -> bool:
    return c in (" ", "\t", "\r", "\n") or ord(c) == 0x202F


@dataclasses.dataclass
class SquadExample:
    qid: str
    question: str
    doc_tokens: list[str]
    answers: list[str]  # every gold answer text (empty for an unanswerable question)
    start_word: int = -1  # the first answer's words (training)
    end_word: int = -1
    answer_text: str = ""
    is_impossible: bool = False


@dataclasses.dataclass
class SquadData:
    path: str
    examples: list[SquadExample]
    version_2: bool
    skipped: list[str]  # question ids whose answer offset did not match its text

    def __len__(self) -> int:
        return len(self.examples)


def split_context(context: str) -> tuple[list[str], list[int]]:
    """Whitespace words of `context` and, for each character, the index of its word."""
    words, char_to_word, new_word = [], [], True
    for c in context:
        if _is_whitespace(c):
            new_word = True
        else:
            if new_word:
                words.append(c)
            else:
                words[-1] += c
            new_word = False
        char_to_word.append(len(words) - 1)
    return words, char_to_word


def read_squad(path: str, training: bool = True, limit: int | None = None) -> SquadData:
    if not os.path.isfile(path):
        raise FinetuneDataError(f"{path}: no such file")
    try:
        data = json.load(open(path, encoding="utf-8-sig"))
    except json.JSONDecodeError as e:
        raise FinetuneDataError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise FinetuneDataError(f"{path}: not a SQuAD file (expected an object with a 'data' list)")
    examples, skipped, version_2 = [], [], False
    for a, article in enumerate(data["data"]):
        for p, paragraph in enumerate(article.get("paragraphs", [])):
            where = f"{path}: data[{a}].paragraphs[{p}]"
            if "context" not in paragraph or "qas" not in paragraph:
                raise FinetuneDataError(f"{where}: missing 'context' or 'qas'")
            context = paragraph["context"]
            words, char_to_word = split_context(context)
            for qa in paragraph["qas"]:
                qid = str(qa.get("id", ""))
                if not qid or "question" not in qa:
                    raise FinetuneDataError(f"{where}: a question without 'id' or 'question'")
                impossible = bool(qa.get("is_impossible", False))
                version_2 |= impossible
                answers = qa.get("answers", [])
                example = SquadExample(qid, qa["question"], words, [x["text"] for x in answers],
                                       is_impossible=impossible)
                if training and not impossible:
                    if not answers:
                        raise FinetuneDataError(f"{where}: question {qid} has no answers and is not marked "
                                                f"is_impossible")
                    text, start = answers[0]["text"], int(answers[0]["answer_start"])
                    if context[start:start + len(text)] != text or not text:
                        skipped.append(qid)
                        continue
                    example.start_word = char_to_word[start]
                    example.end_word = char_to_word[start + len(text) - 1]
                    example.answer_text = text
                    found = " ".join(words[example.start_word:example.end_word + 1])
                    if " ".join(text.split()) not in found:
                        skipped.append(qid)
                        continue
                examples.append(example)
                if limit is not None and len(examples) >= limit:
                    return SquadData(path, examples, version_2, skipped)
    if not examples:
        raise FinetuneDataError(f"{path}: no usable questions" + (f" ({len(skipped)} skipped: answer offsets "
                                                                     f"do not match their text)" if skipped else ""))
    return SquadData(path, examples, version_2, skipped)


def _tokenize_all(tokenizer, texts: list[str], chunk: int = 65536) -> list[np.ndarray]:
    out = []
    for start in range(0, len(texts), chunk):
        ids = tokenizer.tokenize(tf.constant(texts[start:start + chunk]))
        values, splits = ids.flat_values.numpy(), ids.row_splits.numpy()
        out.extend(values[splits[i]:splits[i + 1]] for i in range(len(splits) - 1))
    return out


@dataclasses.dataclass
class SquadFeatures:
    """Windows as arrays, and what post-processing needs to map pieces back to words."""

    arrays: dict[str, np.ndarray]
    example_index: np.ndarray  # window -> example
    token_to_word: list[dict[int, int]]  # per window: position -> context word
    max_context: list[dict[int, bool]]  # per window: position -> is this its best window
    doc_pieces: list[np.ndarray]  # per example: all context piece ids (for the piece text)
    window_starts: list[int]  # per window: offset of its first context piece in doc_pieces
    doc_offsets: list[int]  # per window: position of its first context piece in the window


def _improve_span(doc: np.ndarray, start: int, end: int, answer: np.ndarray) -> tuple[int, int]:
    n = len(answer)
    for new_start in range(start, end - n + 2):
        if np.array_equal(doc[new_start:new_start + n], answer):
            return new_start, new_start + n - 1
    return start, end


def _max_context(spans: list[tuple[int, int]], span_index: int, position: int) -> bool:
    best, best_score = None, None
    for i, (start, length) in enumerate(spans):
        end = start + length - 1
        if position < start or position > end:
            continue
        score = min(position - start, end - position) + 0.01 * length
        if best_score is None or score > best_score:
            best, best_score = i, score
    return best == span_index


def squad_features(tokenizer, data: SquadData, max_seq_length: int = 384, doc_stride: int = 128,
                   max_query_length: int = 64, training: bool = True) -> SquadFeatures:
    examples = data.examples
    questions = _tokenize_all(tokenizer, [e.question for e in examples])
    all_words = [w for e in examples for w in e.doc_tokens]
    word_pieces = _tokenize_all(tokenizer, all_words)
    answers = _tokenize_all(tokenizer, [e.answer_text for e in examples]) if training else None
    rows: dict[str, list] = {k: [] for k in ("input_word_ids", "input_mask", "input_type_ids",
                                             "start_positions", "end_positions")}
    example_index, token_to_word, max_context, doc_pieces_all, window_starts, doc_offsets = [], [], [], [], [], []
    at = 0
    for e_index, example in enumerate(examples):
        pieces = word_pieces[at:at + len(example.doc_tokens)]
        at += len(example.doc_tokens)
        piece_word = np.concatenate([np.full(len(p), w, np.int64) for w, p in enumerate(pieces)] or [[]])
        word_first_piece = np.cumsum([0] + [len(p) for p in pieces])
        doc = np.concatenate(pieces) if pieces else np.zeros(0, np.int32)
        doc_pieces_all.append(doc)
        query = questions[e_index][:max_query_length]
        tok_start = tok_end = -1
        if training and not example.is_impossible:
            tok_start = word_first_piece[example.start_word]
            tok_end = word_first_piece[example.end_word + 1] - 1
            tok_start, tok_end = _improve_span(doc, tok_start, tok_end, answers[e_index])
        room = max_seq_length - len(query) - 3
        if room < 1:
            raise FinetuneDataError(f"--max-seq-length {max_seq_length} leaves no room for the context after a "
                                    f"{len(query)}-piece question; lower --max-query-length")
        spans, start = [], 0
        while True:
            length = min(len(doc) - start, room)
            spans.append((start, length))
            if start + length >= len(doc):
                break
            start += min(length, doc_stride)
        for s_index, (start, length) in enumerate(spans):
            ids = [tokenizer.cls_id, *query.tolist(), tokenizer.sep_id]
            types = [0] * len(ids)
            offset = len(ids)
            mapping, best = {}, {}
            for i in range(length):
                mapping[offset + i] = int(piece_word[start + i])
                best[offset + i] = _max_context(spans, s_index, start + i)
            ids += doc[start:start + length].tolist() + [tokenizer.sep_id]
            types += [1] * (length + 1)
            pad = max_seq_length - len(ids)
            rows["input_word_ids"].append(ids + [tokenizer.pad_id] * pad)
            rows["input_mask"].append([1] * len(ids) + [0] * pad)
            rows["input_type_ids"].append(types + [0] * pad)
            s_pos = e_pos = 0
            if training and not example.is_impossible and start <= tok_start and tok_end <= start + length - 1:
                s_pos, e_pos = tok_start - start + offset, tok_end - start + offset
            rows["start_positions"].append(s_pos)
            rows["end_positions"].append(e_pos)
            example_index.append(e_index)
            token_to_word.append(mapping)
            max_context.append(best)
            window_starts.append(start)
            doc_offsets.append(offset)
    n = len(example_index)
    arrays = {k: np.asarray(v, np.int32) for k, v in rows.items()}
    arrays.update(index=np.arange(n, dtype=np.int32), weight=np.ones(n, np.float32))
    return SquadFeatures(arrays, np.asarray(example_index), token_to_word, max_context, doc_pieces_all,
                         window_starts, doc_offsets)
