"""Sentence and sentence-pair examples (GLUE-style) as tf.data: texts -> packed ids -> length buckets.

Tokenization and packing run as TensorFlow ops in `Dataset.map`, 512 texts at a time, once: the
packed examples are cached, then shuffled and bucketed each epoch (see `batching.py`).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import tensorflow as tf

from pipelines.finetuning.batching import bucket_bounds, bucketed_batches
from pipelines.finetuning.tables import TextTable


def sentence_examples(table: TextTable, tokenizer, max_seq_length: int,
                      targets: Sequence[int] | Sequence[float] | None = None) -> tf.data.Dataset:
    """Single packed examples: the three BERT inputs (`max_seq_length` long), `index`, `weight` and,
    with `targets`, `label` (int32 class ids or float32 scores)."""
    features = {"text_a": tf.constant(table.text_a, tf.string),
                "index": tf.range(len(table), dtype=tf.int32), "weight": tf.ones([len(table)], tf.float32)}
    if table.text_b is not None:
        features["text_b"] = tf.constant(table.text_b, tf.string)
    if targets is not None:
        targets = np.asarray(targets)
        features["label"] = tf.constant(targets, tf.float32 if targets.dtype.kind == "f" else tf.int32)

    def pack(batch):
        out = tokenizer.pack(batch["text_a"], batch.get("text_b"), seq_length=max_seq_length)
        out.update({k: v for k, v in batch.items() if not k.startswith("text_")})
        return out

    return (tf.data.Dataset.from_tensor_slices(features).batch(512)
            .map(pack, num_parallel_calls=tf.data.AUTOTUNE).unbatch())


def batches_per_pass(examples: tf.data.Dataset, batch_size: int, max_seq_length: int, bucket: bool = True) -> int:
    """How many batches one pass over `examples` makes (each bucket's last batch is filled, not dropped)."""
    bounds = np.asarray(bucket_bounds(max_seq_length) if bucket else [max_seq_length])
    lengths = np.concatenate([b.numpy() for b in examples.map(lambda e: tf.reduce_sum(e["input_mask"]))
                             .batch(4096)]) if bucket else None
    if lengths is None:
        count = int(examples.reduce(0, lambda n, _: n + 1).numpy())
        return math.ceil(count / batch_size)
    per_bucket = np.bincount(np.searchsorted(bounds, lengths), minlength=len(bounds))
    return int(sum(math.ceil(n / batch_size) for n in per_bucket))


def batched(examples: tf.data.Dataset, batch_size: int, max_seq_length: int, training: bool, seed: int = 0,
            bucket: bool = True, shuffle_size: int | None = None) -> tf.data.Dataset:
    """Cached, (shuffled each pass when training,) length-bucketed batches of `batch_size` rows."""
    examples = examples.cache()
    if training:
        examples = examples.shuffle(shuffle_size or 100_000, seed=seed, reshuffle_each_iteration=True)
    return bucketed_batches(examples, batch_size, max_seq_length, bucket).prefetch(tf.data.AUTOTUNE)
