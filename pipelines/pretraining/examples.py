"""One block of text in, the serialized pretraining examples of that block out (TFRecord bytes).

Steps: tokenize the block's lines with `BertTokenizer` (one graph call per few thousand lines), pair
sentences for NSP (`pairing.py`), shuffle the pairs, then in batches: lay out
`[CLS] A [SEP] B [SEP]` as a padded id matrix, mask it (`masking.py`), encode the `tf.train.Example`s
(`example_codec.py`) and frame them as TFRecords (`record_files.py`). Everything random is seeded
from `(random_seed, block index)`, so a block's bytes depend on nothing else.

With `dynamic_masking` the examples hold the unmasked pairs only (`input_ids`, `input_mask`,
`segment_ids`, `next_sentence_labels`); the training input pipeline masks them on the fly.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Callable

import numpy as np

from pipelines.pretraining.blocks import TextBlock
from pipelines.pretraining.errors import OptionsError
from pipelines.pretraining.example_codec import encode_examples
from pipelines.pretraining.masking import mask_batch
from pipelines.pretraining.pairing import Pairs, TokenBlock, make_pairs
from pipelines.pretraining.record_files import frame_records

_BATCH = 1024  # pairs laid out, masked and encoded at a time (bounds the matrices' memory)


@dataclasses.dataclass(frozen=True)
class ExampleOptions:
    """The original script's options (same defaults) and ours."""

    max_seq_length: int = 128
    max_predictions_per_seq: int = 20
    masked_lm_prob: float = 0.15
    dupe_factor: int = 10
    short_seq_prob: float = 0.1
    random_seed: int = 12345
    whole_word_masking: bool = False
    wwm_per_piece_choice: bool = False      # the original's whole-word-masking bug, on request
    original_pairing: bool = False          # the original's per-document short target and forced NSP
    dynamic_masking: bool = False           # store unmasked pairs; mask while training

    def validate(self) -> None:
        checks = [
            (self.max_seq_length >= 5, f"max_seq_length must be at least 5, got {self.max_seq_length}"),
            (0 < self.masked_lm_prob <= 1, f"masked_lm_prob must be in (0, 1], got {self.masked_lm_prob}"),
            (self.max_predictions_per_seq >= 1,
             f"max_predictions_per_seq must be at least 1, got {self.max_predictions_per_seq}"),
            (self.dupe_factor >= 1, f"dupe_factor must be at least 1, got {self.dupe_factor}"),
            (0 <= self.short_seq_prob <= 1, f"short_seq_prob must be in [0, 1], got {self.short_seq_prob}"),
        ]
        for ok, message in checks:
            if not ok:
                raise OptionsError(message)


@dataclasses.dataclass(frozen=True)
class VocabInfo:
    size: int
    cls_id: int
    sep_id: int
    mask_id: int
    is_continuation: np.ndarray  # bool per id: the piece starts with "##"

    @classmethod
    def from_tokens(cls, tokens: list[str]) -> "VocabInfo":
        index = {t: i for i, t in enumerate(tokens)}
        return cls(len(tokens), index["[CLS]"], index["[SEP]"], index["[MASK]"],
                   np.array([t.startswith("##") for t in tokens], dtype=bool))


def tokenize_block(block: TextBlock, tokenize_lines: Callable[[list[str]], tuple[np.ndarray, np.ndarray]],
                   batch_lines: int = 4096) -> TokenBlock:
    """Word pieces of every line; lines without pieces and documents without lines are dropped (as
    the original does)."""
    lines = [line for document in block.documents for line in document]
    doc_line_starts = np.cumsum([0] + [len(d) for d in block.documents])
    ids_parts, length_parts = [], []
    for i in range(0, len(lines), batch_lines):
        ids, splits = tokenize_lines(lines[i:i + batch_lines])
        ids_parts.append(ids)
        length_parts.append(np.diff(splits))
    ids = np.concatenate(ids_parts) if ids_parts else np.zeros(0, np.int32)
    lengths = np.concatenate(length_parts) if length_parts else np.zeros(0, np.int64)
    keep = lengths > 0
    sentence_starts = np.concatenate([[0], np.cumsum(lengths[keep])])
    kept_before = np.concatenate([[0], np.cumsum(keep)])
    document_starts = np.unique(kept_before[doc_line_starts])
    return TokenBlock(ids.astype(np.int32), sentence_starts.astype(np.int64), document_starts.astype(np.int64))


def block_seed(random_seed: int, block_index: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([random_seed, block_index])


def block_records(tokens: TokenBlock, block_index: int, options: ExampleOptions,
                  vocab: VocabInfo) -> tuple[bytes, dict[str, int]]:
    """The TFRecord bytes of one block's examples and its counts."""
    seed = block_seed(options.random_seed, block_index)
    py_seed, pair_seed, shuffle_seed, mask_seed = seed.generate_state(4, dtype=np.uint64)
    pairs = make_pairs(tokens, options.max_seq_length - 3, options.short_seq_prob, options.dupe_factor,
                       random.Random(int(py_seed)), np.random.default_rng(pair_seed),
                       options.original_pairing)
    pairs = pairs.take(np.random.default_rng(shuffle_seed).permutation(len(pairs)))
    mask_rng = np.random.default_rng(mask_seed)
    counts = {"instances": 0, "random_next": 0, "short_target": 0, "padded": 0, "tokens": 0,
              "candidates": 0, "masked": 0, "as_mask": 0, "as_self": 0, "as_random": 0, "at_cap": 0}
    chunks = []
    for start in range(0, len(pairs), _BATCH):
        batch = pairs.take(np.arange(start, min(start + _BATCH, len(pairs))))
        features, batch_counts = _batch_features(tokens.ids, batch, options, vocab, mask_rng)
        data, offsets = encode_examples(features)
        chunks.append(frame_records(data, offsets))
        for key, value in batch_counts.items():
            counts[key] += value
    return b"".join(chunks), counts


def _batch_features(ids: np.ndarray, pairs: Pairs, options: ExampleOptions, vocab: VocabInfo,
                    rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    width = options.max_seq_length
    # int32 throughout: these matrices are the memory traffic of the whole job
    len_a = (pairs.a_end - pairs.a_start).astype(np.int32)[:, None]
    len_b = (pairs.b_end - pairs.b_start).astype(np.int32)[:, None]
    position = np.arange(width, dtype=np.int32)[None, :]
    in_a = (position >= 1) & (position <= len_a)
    in_b = (position >= len_a + 2) & (position <= len_a + len_b + 1)
    in_text = in_a | in_b
    source = np.where(in_a, pairs.a_start.astype(np.int32)[:, None] + (position - 1),
                      pairs.b_start.astype(np.int32)[:, None] + (position - 2) - len_a)
    tokens = ids[np.where(in_text, source, 0)]
    tokens[~in_text] = 0
    rows = np.arange(len(pairs))
    length = (len_a + len_b + 3)[:, 0]
    tokens[:, 0] = vocab.cls_id
    tokens[rows, len_a[:, 0] + 1] = vocab.sep_id
    tokens[rows, length - 1] = vocab.sep_id
    in_sequence = position < length[:, None]
    features = {
        "input_mask": in_sequence.view(np.uint8),
        "segment_ids": ((position >= len_a + 2) & in_sequence).view(np.uint8),
        "next_sentence_labels": pairs.is_random_next.astype(np.uint8)[:, None],
    }
    counts = {"instances": len(pairs), "random_next": int(pairs.is_random_next.sum()),
              "short_target": int(pairs.short_target.sum()), "padded": int((length < width).sum()),
              "tokens": int(length.sum())}
    if options.dynamic_masking:
        features["input_ids"] = tokens
        return features, counts
    masked = mask_batch(tokens, length, in_text, options.masked_lm_prob, options.max_predictions_per_seq,
                        vocab.size, vocab.mask_id, rng,
                        vocab.is_continuation if options.whole_word_masking else None,
                        options.wwm_per_piece_choice)
    features.update(input_ids=masked.input_ids, masked_lm_positions=masked.masked_lm_positions,
                    masked_lm_ids=masked.masked_lm_ids, masked_lm_weights=masked.masked_lm_weights)
    counts.update(masked.counts)
    counts["at_cap"] = int((masked.masked_lm_weights.sum(axis=1) >= options.max_predictions_per_seq).sum())
    return features, counts
