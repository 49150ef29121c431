"""Read and write checkpoints in the original google-research/bert format.

A folder holds `bert_config.json`, `bert_model.ckpt.index` / `.data-*` (TF1 name-based variables) and
`vocab.txt`. Reading skips optimizer slots (`adam_m`, `adam_v`, LAMB's `m`/`v`) and `global_step`, which
training checkpoints carry. Writing uses the `SaveV2` op directly, so the variable names are exactly the
original ones (not object-graph paths) and TF1 code, the Model Garden converters and Hugging Face can read
the result.
"""

from __future__ import annotations

import glob
import os
import shutil
from typing import Mapping

import numpy as np
import tensorflow as tf

from bert_tf.atomic import atomic_folder
from bert_tf.checkpoints.errors import CheckpointError, CheckpointNotFoundError
from bert_tf.config import BertConfig

CHECKPOINT_PREFIX = "bert_model.ckpt"
_SKIPPED_SUFFIXES = ("/adam_m", "/adam_v", "/m", "/v", "/Momentum", "/lamb_m", "/lamb_v")
_SKIPPED_NAMES = ("global_step", "_CHECKPOINTABLE_OBJECT_GRAPH")


def find_checkpoint_prefix(path: str) -> str | None:
    """The checkpoint prefix inside folder `path` (or `path` itself if it is a prefix), else None."""
    if os.path.isfile(path + ".index"):
        return path
    if not os.path.isdir(path):
        return None
    latest = tf.train.latest_checkpoint(path)
    if latest and os.path.isfile(latest + ".index"):
        return latest
    indexes = sorted(glob.glob(os.path.join(path, "*.index")))
    if len(indexes) == 1:
        return indexes[0][: -len(".index")]
    if os.path.isfile(os.path.join(path, CHECKPOINT_PREFIX + ".index")):
        return os.path.join(path, CHECKPOINT_PREFIX)
    if len(indexes) > 1:
        raise CheckpointError(f"{path} holds {len(indexes)} checkpoints and no 'checkpoint' file saying which "
                              f"is current; pass the prefix of one, e.g. {indexes[-1][:-len('.index')]}")
    return None


def is_google_checkpoint(path: str) -> bool:
    try:
        return find_checkpoint_prefix(path) is not None
    except CheckpointError:
        return True


def read_google_checkpoint(path: str) -> tuple[BertConfig, dict[str, np.ndarray], str | None]:
    """`(config, {name: array}, vocab_file or None)` from a Google BERT folder or checkpoint prefix."""
    prefix = find_checkpoint_prefix(path)
    if prefix is None:
        raise CheckpointNotFoundError(f"no TF checkpoint (*.index) found at {path}")
    folder = os.path.dirname(prefix)
    config_file = os.path.join(folder, "bert_config.json")
    if not os.path.isfile(config_file):
        raise CheckpointError(f"{folder} has a checkpoint but no bert_config.json beside it")
    vocab_file = os.path.join(folder, "vocab.txt")
    vocab_file = vocab_file if os.path.isfile(vocab_file) else None
    config = BertConfig.from_json_file(config_file, vocab_file=vocab_file)
    try:
        reader = tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError) as e:
        raise CheckpointError(f"cannot read checkpoint {prefix}: {e}") from None
    weights = {}
    for name in reader.get_variable_to_shape_map():
        if name in _SKIPPED_NAMES or name.endswith(_SKIPPED_SUFFIXES):
            continue
        weights[name] = reader.get_tensor(name)
    return config, weights, vocab_file


def write_google_checkpoint(out_dir: str, config: BertConfig, weights: Mapping[str, np.ndarray],
                            vocab_file: str | None = None, overwrite: bool = False) -> str:
    """Write a Google BERT folder at `out_dir`, atomically (built under a temporary name, then renamed)."""
    out_dir = os.path.abspath(out_dir)
    with atomic_folder(out_dir, overwrite=overwrite) as tmp:
        if vocab_file is not None:
            config.validate(vocab_file)
            shutil.copyfile(vocab_file, os.path.join(tmp, "vocab.txt"))
        config.to_json_file(os.path.join(tmp, "bert_config.json"))
        names = sorted(weights)
        tensors = [tf.constant(np.asarray(weights[n])) for n in names]
        tf.raw_ops.SaveV2(prefix=os.path.join(tmp, CHECKPOINT_PREFIX), tensor_names=names,
                          shape_and_slices=[""] * len(names), tensors=tensors)
        with open(os.path.join(tmp, "checkpoint"), "w", encoding="utf-8") as f:
            f.write(f'model_checkpoint_path: "{CHECKPOINT_PREFIX}"\n'
                    f'all_model_checkpoint_paths: "{CHECKPOINT_PREFIX}"\n')
    return out_dir
