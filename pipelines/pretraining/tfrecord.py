"""The original pretraining TFRecord format: one `tf.train.Example` per instance.

Features, as google-research/bert's `create_pretraining_data.py` writes them and `run_pretraining.py`
reads them (`input_fn_builder`): `input_ids`, `input_mask`, `segment_ids` (int64 `[max_seq_length]`,
zero-padded), `masked_lm_positions`, `masked_lm_ids` (int64 `[max_predictions_per_seq]`, zero-padded),
`masked_lm_weights` (float `[max_predictions_per_seq]`, 1.0 for real predictions), and
`next_sentence_labels` (int64 `[1]`, 1 = random next).

`instance_to_example` is the one-at-a-time reference; the generator writes the same bytes in bulk
(`example_codec.py`). Both serialize deterministically (map entries in sorted key order): Python
protobuf's default orders map entries by a hash seeded per process, so the original script's bytes
differ from run to run while parsing to the same example.
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

from pipelines.pretraining.instances import Instance

INT_FEATURES = ("input_ids", "input_mask", "segment_ids", "masked_lm_positions", "masked_lm_ids")


def _ints(values) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))


def _floats(values) -> tf.train.Feature:
    return tf.train.Feature(float_list=tf.train.FloatList(value=list(values)))


def instance_to_example(instance: Instance, token_to_id: Callable[[str], int], max_seq_length: int,
                        max_predictions_per_seq: int) -> bytes:
    """The serialized `tf.train.Example` of one instance, padded to the static lengths."""
    ids = [token_to_id(t) for t in instance.tokens]
    if len(ids) > max_seq_length or len(instance.masked_lm_positions) > max_predictions_per_seq:
        raise ValueError(f"instance of {len(ids)} pieces / {len(instance.masked_lm_positions)} predictions "
                         f"does not fit {max_seq_length} / {max_predictions_per_seq}")
    pad = max_seq_length - len(ids)
    n_pred = len(instance.masked_lm_positions)
    pred_pad = max_predictions_per_seq - n_pred
    features = {
        "input_ids": _ints(ids + [0] * pad),
        "input_mask": _ints([1] * len(ids) + [0] * pad),
        "segment_ids": _ints(list(instance.segment_ids) + [0] * pad),
        "masked_lm_positions": _ints(list(instance.masked_lm_positions) + [0] * pred_pad),
        "masked_lm_ids": _ints([token_to_id(t) for t in instance.masked_lm_labels] + [0] * pred_pad),
        "masked_lm_weights": _floats([1.0] * n_pred + [0.0] * pred_pad),
        "next_sentence_labels": _ints([1 if instance.is_random_next else 0]),
    }
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString(deterministic=True)


def feature_spec(max_seq_length: int, max_predictions_per_seq: int) -> dict[str, tf.io.FixedLenFeature]:
    """The original reader's spec (`run_pretraining.input_fn_builder`)."""
    spec = {name: tf.io.FixedLenFeature([max_seq_length], tf.int64)
            for name in ("input_ids", "input_mask", "segment_ids")}
    spec.update({name: tf.io.FixedLenFeature([max_predictions_per_seq], tf.int64)
                 for name in ("masked_lm_positions", "masked_lm_ids")})
    spec["masked_lm_weights"] = tf.io.FixedLenFeature([max_predictions_per_seq], tf.float32)
    spec["next_sentence_labels"] = tf.io.FixedLenFeature([1], tf.int64)
    return spec


def parse_examples(serialized: tf.Tensor, max_seq_length: int, max_predictions_per_seq: int) -> dict[str, tf.Tensor]:
    """Parse a batch of serialized examples; int64 features become int32 (as the original does for TPUs)."""
    parsed = tf.io.parse_example(serialized, feature_spec(max_seq_length, max_predictions_per_seq))
    return {k: tf.cast(v, tf.int32) if v.dtype == tf.int64 else v for k, v in parsed.items()}
