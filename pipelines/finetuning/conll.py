"""CoNLL-2003 style tagging files and their BERT examples (label on each word's first piece).

File format: one word per line, `word ... tag` (the first field is the word, the last the tag),
a blank line between sentences, `-DOCSTART-` lines skipped. For prediction files the tag may be
left out (one field per line).

Examples: the words of a sentence are tokenized (as TensorFlow ops, all words of the file in a few
batched calls), the label goes on each word's first piece and every other piece has weight 0 in
the loss and the metrics, as in the BERT paper. A sentence whose pieces do not fit
`max_seq_length - 2` keeps its first words; the words cut off are predicted `O` and counted.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import tensorflow as tf

from pipelines.finetuning.errors import FinetuneDataError


@dataclasses.dataclass
class TaggedSentences:
    path: str
    words: list[list[str]]
    tags: list[list[str]] | None
    lines: list[int]  # line of each sentence's first word

    def __len__(self) -> int:
        return len(self.words)


def read_conll(path: str, with_tags: bool = True, limit: int | None = None) -> TaggedSentences:
    if not os.path.isfile(path):
        raise FinetuneDataError(f"{path}: no such file")
    words, tags, lines = [], [], []
    current_words, current_tags, first_line = [], [], 0

    def flush():
        nonlocal current_words, current_tags
        if current_words:
            words.append(current_words)
            tags.append(current_tags)
            lines.append(first_line)
        current_words, current_tags = [], []

    with open(path, encoding="utf-8-sig") as f:
        for number, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                flush()
                if limit is not None and len(words) >= limit:
                    break
                continue
            if fields[0] == "-DOCSTART-":
                flush()
                continue
            if with_tags and len(fields) < 2:
                raise FinetuneDataError(f"{path}:{number}: expected 'word ... tag', found {line.strip()!r}")
            if not current_words:
                first_line = number
            current_words.append(fields[0])
            current_tags.append(fields[-1] if with_tags else "O")
    flush()
    if limit is not None:
        words, tags, lines = words[:limit], tags[:limit], lines[:limit]
    if not words:
        raise FinetuneDataError(f"{path}: no sentences (the file is empty or has only -DOCSTART- lines)")
    return TaggedSentences(path, words, tags if with_tags else None, lines)


def word_pieces(tokenizer, sentences: TaggedSentences, chunk: int = 65536) -> list[list[np.ndarray]]:
    """Piece ids of every word, per sentence (tokenized in batches of `chunk` words)."""
    flat = [w for sentence in sentences.words for w in sentence]
    pieces: list[np.ndarray] = []
    for start in range(0, len(flat), chunk):
        ids = tokenizer.tokenize(tf.constant(flat[start:start + chunk]))
        values, splits = ids.flat_values.numpy(), ids.row_splits.numpy()
        pieces.extend(values[splits[i]:splits[i + 1]] for i in range(len(splits) - 1))
    out, at = [], 0
    for sentence in sentences.words:
        out.append(pieces[at:at + len(sentence)])
        at += len(sentence)
    return out


@dataclasses.dataclass
class TaggingFeatures:
    arrays: dict[str, np.ndarray]  # model inputs, label_ids, label_weights, index, weight
    first_piece: list[np.ndarray]  # per sentence: position of each kept word's first piece (-1: no piece / cut)
    truncated_sentences: int
    truncated_words: int


def tagging_features(tokenizer, sentences: TaggedSentences, max_seq_length: int,
                     label_list: list[str] | None) -> TaggingFeatures:
    index = {t: i for i, t in enumerate(label_list or [])}
    n = len(sentences)
    ids = np.zeros((n, max_seq_length), np.int32)
    label_ids = np.zeros((n, max_seq_length), np.int32)
    label_weights = np.zeros((n, max_seq_length), np.float32)
    lengths = np.zeros(n, np.int64)
    first_piece, cut_sentences, cut_words = [], 0, 0
    budget = max_seq_length - 2
    for s, pieces in enumerate(word_pieces(tokenizer, sentences)):
        row = [tokenizer.cls_id]
        positions = np.full(len(pieces), -1, np.int64)
        for w, word_ids in enumerate(pieces):
            if len(row) - 1 + len(word_ids) > budget:
                cut_sentences += 1
                cut_words += len(pieces) - w
                break
            if len(word_ids):
                positions[w] = len(row)
                if label_list is not None and sentences.tags is not None:
                    tag = sentences.tags[s][w]
                    if tag not in index:
                        raise FinetuneDataError(
                            f"{sentences.path}: sentence at line {sentences.lines[s]}: tag {tag!r} is not one of "
                            f"the training tags ({', '.join(label_list)})")
                    label_ids[s, len(row)] = index[tag]
                    label_weights[s, len(row)] = 1.0
            row.extend(int(i) for i in word_ids)
        row.append(tokenizer.sep_id)
        ids[s, :len(row)] = row
        lengths[s] = len(row)
        first_piece.append(positions)
    mask = (np.arange(max_seq_length)[None, :] < lengths[:, None]).astype(np.int32)
    arrays = {"input_word_ids": ids, "input_mask": mask, "input_type_ids": np.zeros_like(ids),
              "label_ids": label_ids, "label_weights": label_weights,
              "index": np.arange(n, dtype=np.int32), "weight": np.ones(n, np.float32)}
    return TaggingFeatures(arrays, first_piece, cut_sentences, cut_words)
