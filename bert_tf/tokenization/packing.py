"""Packing word-piece ids into BERT's three int32 inputs: `[CLS] A [SEP] (B [SEP])`, padded to a static length.

All of it is batched tensor arithmetic on ragged ids (no Python loop per example), so it runs
inside tf.data, a `tf.function` or an exported SavedModel.

Truncation, when the pieces do not fit `seq_length` minus the 2 or 3 special tokens:

- `longest_first` (default), the original `truncate_seq_pair`: drop the last piece of the longer
  segment, one at a time, the second segment on a tie. In closed form: a segment no longer than
  half the budget is kept whole and the other gets the rest; otherwise A gets ceil(budget / 2) and
  B floor(budget / 2). Hugging Face's `longest_first` differs in one case only: when both segments
  are cut to half of an odd budget and B is at least as long as A, it gives the extra piece to B.
  We follow the original (the checkpoints were fine-tuned with it); `tests/test_packing.py` pins
  both the agreement and that one difference.
- `round_robin`: one piece to each segment in turn (tensorflow-text's `RoundRobinTrimmer`).
- `waterfall`: A takes what it needs first, B the rest (tensorflow-text's `WaterfallTrimmer`).
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_text as tf_text

TRUNCATIONS = ("longest_first", "round_robin", "waterfall")


def _keep_first(ids: tf.RaggedTensor, lengths: tf.Tensor) -> tf.RaggedTensor:
    """Each row cut to its first `lengths[i]` items."""
    positions = tf.ragged.range(ids.row_lengths())
    return tf.ragged.boolean_mask(ids, positions < tf.cast(lengths, positions.dtype)[:, None])


def longest_first_lengths(len_a: tf.Tensor, len_b: tf.Tensor, budget: int | tf.Tensor):
    """Lengths the original `truncate_seq_pair` leaves, for whole batches of length pairs."""
    budget = tf.cast(budget, len_a.dtype)
    half_up, half_down = budget - budget // 2, budget // 2
    fits = len_a + len_b <= budget
    a_short = len_a <= budget - len_a   # A fits in what remains after A: keep it whole
    b_short = len_b <= budget - len_b
    new_a = tf.where(fits | a_short, len_a, tf.where(b_short, budget - len_b, half_up))
    new_b = tf.where(fits | b_short, len_b, tf.where(a_short, budget - len_a, half_down))
    return new_a, new_b


def truncate_segments(segments: list[tf.RaggedTensor], budget: int,
                      truncation: str = "longest_first") -> list[tf.RaggedTensor]:
    """Cut one or two ragged `[batch, (pieces)]` segments so that each row's total fits `budget`."""
    if truncation not in TRUNCATIONS:
        raise ValueError(f"truncation must be one of {', '.join(TRUNCATIONS)}, not {truncation!r}")
    if len(segments) == 1:
        return [segments[0][:, :budget]]
    if len(segments) != 2:
        raise ValueError(f"BERT packs one or two segments, not {len(segments)}")
    if truncation == "longest_first":
        a, b = segments
        new_a, new_b = longest_first_lengths(a.row_lengths(), b.row_lengths(), budget)
        return [_keep_first(a, new_a), _keep_first(b, new_b)]
    trimmer = (tf_text.RoundRobinTrimmer if truncation == "round_robin" else tf_text.WaterfallTrimmer)(budget)
    return list(trimmer.trim(segments))


def pack_segments(segments: list[tf.RaggedTensor], seq_length: int, cls_id: int, sep_id: int,
                  pad_id: int = 0, truncation: str = "longest_first") -> dict[str, tf.Tensor]:
    """`[CLS] A [SEP] (B [SEP])` as `input_word_ids`, `input_mask`, `input_type_ids`: int32 `[batch, seq_length]`."""
    budget = seq_length - 1 - len(segments)
    if budget < len(segments):
        raise ValueError(f"seq_length {seq_length} leaves no room for text with {len(segments)} segment(s)")
    segments = [tf.cast(s, tf.int32) for s in truncate_segments(segments, budget, truncation)]
    ids, type_ids = tf_text.combine_segments(segments, start_of_sequence_id=cls_id, end_of_segment_id=sep_id)
    word_ids, mask = tf_text.pad_model_inputs(ids, max_seq_length=seq_length, pad_value=pad_id)
    type_ids, _ = tf_text.pad_model_inputs(type_ids, max_seq_length=seq_length)
    return {"input_word_ids": tf.cast(word_ids, tf.int32), "input_mask": tf.cast(mask, tf.int32),
            "input_type_ids": tf.cast(type_ids, tf.int32)}
