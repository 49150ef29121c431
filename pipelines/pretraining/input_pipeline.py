"""The training input pipeline: pretraining TFRecords (ours or the original script's) to batches.

    files -> [shard by InputContext] -> shuffle files, repeat -> interleave TFRecordDatasets
          -> shuffle records -> batch (drop_remainder) -> parse (int64 -> int32) -> [mask] -> prefetch

Batches are dicts under the model's input names (`input_word_ids`, `input_mask`, `input_type_ids`,
`masked_lm_positions`, plus the labels `masked_lm_ids`, `masked_lm_weights`,
`next_sentence_labels`), with static shapes, which `BertPretrainer.fit` and a `strategy.run` loop
take as they are (TPUs need the static shapes and int32). `original_names=True` keeps the file's
feature names instead.

Distribution: pass the `tf.distribute.InputContext` that `distribute_datasets_from_function` gives;
`batch_size` is then the global batch and each pipeline batches its per-replica share. Files are
split between input pipelines when there are at least as many files as pipelines, else records are.

Dynamic masking (RoBERTa style): for files written with `--dynamic-masking` (unmasked pairs), or to
re-mask any files (their stored masks are undone first), pass `DynamicMasking`; every epoch then sees
new masks, drawn with tensorflow-text's
`RandomItemSelector` and `MaskValuesChooser` (80% [MASK], 10% random, 10% unchanged; [CLS], [SEP]
and padding never chosen).
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

HUB_NAMES = {"input_ids": "input_word_ids", "segment_ids": "input_type_ids"}


@dataclasses.dataclass(frozen=True)
class DynamicMasking:
    """Mask while reading. Ids are those of the vocab the files were made with."""

    vocab_size: int
    mask_id: int = 103
    cls_id: int = 101
    sep_id: int = 102
    pad_id: int = 0
    masked_lm_prob: float = 0.15
    max_predictions_per_seq: int = 20

    @classmethod
    def from_vocab(cls, vocab_file: str, **kwargs) -> "DynamicMasking":
        from bert_tf.tokenization.vocab import load_vocab
        tokens = load_vocab(vocab_file)
        index = {t: i for i, t in enumerate(tokens)}
        return cls(len(tokens), index["[MASK]"], index["[CLS]"], index["[SEP]"], index["[PAD]"], **kwargs)


def list_files(file_pattern: str | list[str]) -> list[str]:
    patterns = file_pattern.split(",") if isinstance(file_pattern, str) else list(file_pattern)
    files: list[str] = []
    for pattern in patterns:
        matches = sorted(tf.io.gfile.glob(pattern.strip()))
        if not matches:
            raise FileNotFoundError(f"no TFRecord file matches {pattern!r}")
        files += matches
    return files


def _compression(path: str) -> str:
    with tf.io.gfile.GFile(path, "rb") as f:
        return "GZIP" if f.read(2) == b"\x1f\x8b" else ""


def pretraining_dataset(file_pattern: str | list[str], batch_size: int, *, max_seq_length: int = 128,
                        max_predictions_per_seq: int = 20, is_training: bool = True,
                        input_context: tf.distribute.InputContext | None = None, shuffle_buffer: int = 10_000,
                        seed: int | None = None, cycle_length: int = 8, dynamic_masking: DynamicMasking | None = None,
                        original_names: bool = False, drop_remainder: bool = True,
                        repeat: bool | None = None) -> tf.data.Dataset:
    """Batches of pretraining features from TFRecord files (plain or gzip, detected per file set).
    Training shuffles and repeats; `repeat=True` also repeats an evaluation pass (in file order)."""
    files = list_files(file_pattern)
    compression = _compression(files[0])
    files = [f for f in files if has_records(f, compression)]  # an empty shard would spin a repeat forever
    if not files:
        raise ValueError(f"no records in {file_pattern!r}: every file is empty")
    if input_context is not None:
        batch_size = input_context.get_per_replica_batch_size(batch_size)
    dataset = tf.data.Dataset.from_tensor_slices(files)
    shard_records = False
    if input_context is not None and input_context.num_input_pipelines > 1:
        if len(files) >= input_context.num_input_pipelines:
            dataset = dataset.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
        else:
            shard_records = True
    if is_training:
        dataset = dataset.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    if is_training if repeat is None else repeat:
        dataset = dataset.repeat()
    dataset = dataset.interleave(
        lambda path: tf.data.TFRecordDataset(path, compression_type=compression, buffer_size=8 << 20),
        cycle_length=min(cycle_length, len(files)), num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=not is_training)
    if shard_records:
        dataset = dataset.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    if is_training:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    stored_masks = _has_stored_masks(files[0], compression)
    spec = _feature_spec(max_seq_length, max_predictions_per_seq, with_masks=stored_masks)

    def parse(serialized):
        features = tf.io.parse_example(serialized, spec)
        features = {k: tf.cast(v, tf.int32) if v.dtype == tf.int64 else v for k, v in features.items()}
        if dynamic_masking is not None:
            ids = features["input_ids"]
            if stored_masks:  # put the original pieces back before masking afresh
                ids = _unmask(ids, features["masked_lm_positions"], features["masked_lm_ids"],
                              features["masked_lm_weights"])
            features.update(mask_dynamically(ids, features["input_mask"], dynamic_masking))
        if not original_names:
            features = {HUB_NAMES.get(k, k): v for k, v in features.items()}
        return features

    return dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def has_records(path: str, compression: str | None = None) -> bool:
    compression = _compression(path) if compression is None else compression
    if tf.io.gfile.stat(path).length == 0:
        return False
    return any(True for _ in tf.data.TFRecordDataset(path, compression_type=compression).take(1))


def _has_stored_masks(path: str, compression: str) -> bool:
    for raw in tf.data.TFRecordDataset(path, compression_type=compression).take(1):
        return "masked_lm_positions" in tf.train.Example.FromString(raw.numpy()).features.feature
    return True


def _unmask(ids: tf.Tensor, positions: tf.Tensor, labels: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
    rows = tf.broadcast_to(tf.range(tf.shape(ids)[0])[:, None], tf.shape(positions))
    real = weights > 0
    index = tf.stack([tf.boolean_mask(rows, real), tf.boolean_mask(positions, real)], axis=1)
    return tf.tensor_scatter_nd_update(ids, index, tf.boolean_mask(labels, real))


def _feature_spec(seq: int, pred: int, with_masks: bool) -> dict[str, tf.io.FixedLenFeature]:
    spec = {name: tf.io.FixedLenFeature([seq], tf.int64) for name in ("input_ids", "input_mask", "segment_ids")}
    spec["next_sentence_labels"] = tf.io.FixedLenFeature([1], tf.int64)
    if with_masks:
        spec.update(masked_lm_positions=tf.io.FixedLenFeature([pred], tf.int64),
                    masked_lm_ids=tf.io.FixedLenFeature([pred], tf.int64),
                    masked_lm_weights=tf.io.FixedLenFeature([pred], tf.float32))
    return spec


def mask_dynamically(input_ids: tf.Tensor, input_mask: tf.Tensor, masking: DynamicMasking) -> dict[str, tf.Tensor]:
    """New masks for a batch of unmasked `[batch, seq]` ids: masked ids and the `masked_lm_*` features."""
    import tensorflow_text as tf_text

    seq = input_ids.shape[1]
    pred = masking.max_predictions_per_seq
    ids = tf.RaggedTensor.from_tensor(input_ids, lengths=tf.reduce_sum(input_mask, axis=1))
    selector = tf_text.RandomItemSelector(
        max_selections_per_batch=pred, selection_rate=masking.masked_lm_prob,
        unselectable_ids=[masking.cls_id, masking.sep_id, masking.pad_id])
    chooser = tf_text.MaskValuesChooser(masking.vocab_size, masking.mask_id, mask_token_rate=0.8,
                                        random_token_rate=0.1)
    masked, positions, labels = tf_text.mask_language_model(ids, selector, chooser)
    batch = tf.shape(input_ids)[0]
    positions = positions.to_tensor(shape=[None, pred])
    weights = tf.cast(tf.sequence_mask(labels.row_lengths(), pred), tf.float32)
    return {"input_ids": tf.ensure_shape(masked.to_tensor(shape=[None, seq]), [None, seq]),
            "masked_lm_positions": tf.ensure_shape(tf.cast(positions, tf.int32), [None, pred]),
            "masked_lm_ids": tf.ensure_shape(tf.cast(labels.to_tensor(shape=[None, pred]), tf.int32), [None, pred]),
            "masked_lm_weights": tf.reshape(weights, [batch, pred])}
