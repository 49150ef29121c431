"""Length-bucketed batches of packed BERT inputs, with few distinct shapes.

Every example is packed to `max_seq_length` once (and cached), then grouped by length into buckets
whose bounds are a handful of fixed lengths; a batch is cut to its bucket's bound, so attention runs
over e.g. 32 positions instead of 128 for short sentences, while a compiled step (XLA, TPU) sees at
most one shape per bucket. Batches are always `batch_size` rows: the last partial batch of a bucket
is filled with rows of weight 0 (and index -1), so nothing is dropped and no new shape appears.
"""

from __future__ import annotations

import tensorflow as tf

from bert_tf.models.encoder import ENCODER_INPUTS

_BOUNDS = (16, 32, 48, 64, 96, 128, 192, 256, 320, 384, 448, 512)


def bucket_bounds(max_seq_length: int) -> list[int]:
    return sorted({b for b in _BOUNDS if b < max_seq_length} | {max_seq_length})


def per_token_keys(element_spec: dict) -> list[str]:
    """Features with a sequence axis (cut to the bucket length with the inputs)."""
    return [k for k, spec in element_spec.items() if spec.shape.rank == 1]


def bucketed_batches(examples: tf.data.Dataset, batch_size: int, max_seq_length: int, bucket: bool = True
                     ) -> tf.data.Dataset:
    """Batches from a dataset of single examples (dicts of features packed to `max_seq_length`, with
    `weight` and `index`). Without `bucket`, every batch is `max_seq_length` long."""
    bounds = bucket_bounds(max_seq_length) if bucket else [max_seq_length]
    bounds_t = tf.constant(bounds, tf.int32)
    sequence_keys = per_token_keys(examples.element_spec)

    def bucket_of(example):
        length = tf.reduce_sum(example["input_mask"])
        return tf.cast(tf.argmax(tf.cast(bounds_t >= length, tf.int32)), tf.int64)

    def fill_and_cut(batch, bound):
        rows = tf.shape(batch["input_mask"])[0]
        out = {}
        for key, value in batch.items():
            if key in sequence_keys:
                value = value[:, :bound]
            padding = [[0, batch_size - rows]] + [[0, 0]] * (len(value.shape) - 1)
            fill = -1 if key == "index" else 0
            value = tf.pad(value, padding, constant_values=tf.cast(fill, value.dtype))
            out[key] = tf.ensure_shape(value, [batch_size] + [None] * (len(value.shape) - 1))
        return out

    if len(bounds) == 1:
        return examples.batch(batch_size).map(lambda b: fill_and_cut(b, max_seq_length))

    def reduce(key, window):
        bound = tf.gather(bounds_t, key)
        return window.batch(batch_size).map(lambda b: fill_and_cut(b, bound))

    # The sequence axis is left unknown in the element spec; at run time it is one of `bounds`, so a
    # jit-compiled step compiles once per bucket.
    return examples.group_by_window(key_func=bucket_of, reduce_func=reduce, window_size=batch_size)


def split_features(batch: dict, label_keys: tuple[str, ...], token_weights: str | None = None):
    """`(inputs, labels, sample weights)` for `model.fit`. The weights are the row weights (0 for filler
    rows), times `batch[token_weights]` per token when given (tagging: 1 on first pieces only)."""
    inputs = {k: batch[k] for k in ENCODER_INPUTS}
    labels = batch[label_keys[0]] if len(label_keys) == 1 else {k: batch[k] for k in label_keys}
    weights = batch["weight"]
    if token_weights is not None:
        weights = batch[token_weights] * weights[:, None]
    return inputs, labels, weights
