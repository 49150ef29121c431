"""Read Hugging Face BERT folders (`config.json` + `model.safetensors`) without torch.

Names are translated to the original ones (`encoder.layer.3.attention.self.query.weight` ->
`bert/encoder/layer_3/attention/self/query/kernel`). PyTorch `Linear` weights are `[out, in]`, so they
are transposed to the original `[in, out]` kernels; embeddings are not. `cls.seq_relationship.weight`
is `[2, H]` like the original `output_weights`, so it is not transposed either. The decoder weight of
the MLM head is tied to the word embeddings and is skipped, as is the `position_ids` buffer.
"""

from __future__ import annotations

import json
import os
import re

import numpy as np

from bert_tf.checkpoints.errors import CheckpointError, CheckpointNotFoundError
from bert_tf.config import BertConfig

WEIGHTS_FILE = "model.safetensors"
_SKIPPED = ("embeddings.position_ids", "cls.predictions.decoder.weight", "cls.predictions.decoder.bias")


def is_hf_folder(path: str) -> bool:
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, "config.json")) and (
        os.path.isfile(os.path.join(path, WEIGHTS_FILE))
        or os.path.isfile(os.path.join(path, "pytorch_model.bin")))


def hf_name_to_original(name: str) -> tuple[str, bool] | None:
    """`(original name, transpose?)` for a Hugging Face BERT weight name; None for names to skip."""
    if name.startswith("bert."):
        name = name[len("bert."):]
    if name in _SKIPPED:
        return None
    if name == "cls.predictions.bias":
        return "cls/predictions/output_bias", False
    if name.startswith("cls.seq_relationship."):
        leaf = name.rsplit(".", 1)[1]
        return ("cls/seq_relationship/output_weights" if leaf == "weight"
                else "cls/seq_relationship/output_bias"), False
    scope = "" if name.startswith("cls.") else "bert/"
    parts = name.split(".")
    leaf, module = parts[-1], parts[:-1]
    path = re.sub(r"layer/(\d+)", r"layer_\1", "/".join(module))
    if module and module[-1] == "LayerNorm":
        return f"{scope}{path}/" + {"weight": "gamma", "gamma": "gamma", "bias": "beta", "beta": "beta"}[leaf], False
    if module and module[-1].endswith("_embeddings"):
        return f"{scope}{path}", False
    if leaf == "weight":
        return f"{scope}{path}/kernel", True
    return f"{scope}{path}/{leaf}", False


def read_hf_checkpoint(path: str) -> tuple[BertConfig, dict[str, np.ndarray], str | None]:
    """`(config, {original name: array}, vocab_file or None)` from a Hugging Face BERT folder."""
    if not os.path.isdir(path):
        raise CheckpointNotFoundError(f"checkpoint folder not found: {path}")
    config_file = os.path.join(path, "config.json")
    weights_file = os.path.join(path, WEIGHTS_FILE)
    if not os.path.isfile(weights_file):
        raise CheckpointError(f"{path} has no {WEIGHTS_FILE}; only safetensors weights are read (no torch "
                              f"pickle loading); save the model with safe_serialization=True")
    with open(config_file, encoding="utf-8") as f:
        raw = json.load(f)
    model_type = raw.get("model_type", "bert")
    if model_type != "bert":
        raise CheckpointError(f"{config_file}: model_type is {model_type!r}; only 'bert' models can be loaded")
    if raw.get("position_embedding_type", "absolute") != "absolute":
        raise CheckpointError(f"{config_file}: position_embedding_type "
                              f"{raw['position_embedding_type']!r} is not supported (only 'absolute')")
    vocab_file = os.path.join(path, "vocab.txt")
    vocab_file = vocab_file if os.path.isfile(vocab_file) else None
    config = BertConfig.from_json_file(config_file, vocab_file=vocab_file)
    try:
        from safetensors.numpy import load_file
        tensors = load_file(weights_file)
    except Exception as e:  # safetensors raises its own error types
        raise CheckpointError(f"cannot read {weights_file}: {e}") from None
    weights = {}
    for name, value in tensors.items():
        mapped = hf_name_to_original(name)
        if mapped is None:
            continue
        original, transpose = mapped
        value = np.asarray(value, dtype=np.float32)
        weights[original] = value.T if transpose else value
    return config, weights, vocab_file
