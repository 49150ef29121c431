"""`load_encoder` / `load_pretrainer`: one entry point for every checkpoint format we read.

Formats are recognised by what the path holds:
- a bert-tf folder (`bert_tf.json` + `model.keras`) or a `.keras` file;
- an original Google BERT folder (`bert_config.json` + `*.ckpt.index`), or a checkpoint prefix;
- a Hugging Face folder (`config.json` + `model.safetensors`).
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from bert_tf.checkpoints import google, huggingface, native
from bert_tf.checkpoints.errors import CheckpointError, CheckpointNotFoundError
from bert_tf.checkpoints.google_names import (assign_weights, encoder_slots, export_weights,
                                              pretraining_head_slots)
from bert_tf.config import BertConfig


@dataclasses.dataclass
class Checkpoint:
    """What a path holds: a config, original-named weights (or a Keras model), a vocab and the format."""

    format: str
    config: BertConfig
    weights: dict[str, np.ndarray] | None
    vocab_file: str | None
    keras_model: object = None

    @property
    def has_pretraining_heads(self) -> bool:
        if self.keras_model is not None:
            return hasattr(self.keras_model, "masked_lm")
        return any(name.startswith("cls/predictions/") for name in self.weights)


def read_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Recognise and read the checkpoint at `path`."""
    path = os.fspath(path)
    if not os.path.exists(path) and not os.path.isfile(path + ".index"):
        raise CheckpointNotFoundError(f"checkpoint not found: {path} does not exist")
    if os.path.isfile(path) and path.endswith(".keras"):
        model = native.load_keras_model(path)
        return Checkpoint("keras", model.bert_config, None, None, model)
    if native.is_native_folder(path):
        model = native.load_keras_model(path)
        vocab = os.path.join(path, "vocab.txt")
        return Checkpoint("bert_tf", model.bert_config, None, vocab if os.path.isfile(vocab) else None, model)
    if google.is_google_checkpoint(path):
        config, weights, vocab = google.read_google_checkpoint(path)
        return Checkpoint("google", config, weights, vocab)
    if huggingface.is_hf_folder(path):
        config, weights, vocab = huggingface.read_hf_checkpoint(path)
        return Checkpoint("huggingface", config, weights, vocab)
    if os.path.isdir(path):
        found = ", ".join(sorted(os.listdir(path))[:10]) or "nothing"
        raise CheckpointError(
            f"{path} is not a checkpoint folder we can read: expected bert_tf.json + model.keras (bert-tf), "
            f"bert_config.json + *.ckpt.index (Google BERT) or config.json + model.safetensors "
            f"(Hugging Face); found {found}")
    raise CheckpointError(f"{path} is not a checkpoint: expected a folder, a checkpoint prefix or a .keras file")


def load_encoder(path: str | os.PathLike, dtype=None):
    """A `BertEncoder` with the weights at `path` (any format `read_checkpoint` knows).

    Example (with a Hugging Face folder):
    >>> encoder = load_encoder("path/to/all-MiniLM-L6-v2")  # doctest: +SKIP
    """
    from bert_tf.models import BertEncoder
    ckpt = read_checkpoint(path)
    if ckpt.keras_model is not None:
        model = ckpt.keras_model
        encoder = model if isinstance(model, BertEncoder) else getattr(model, "encoder", None)
        if not isinstance(encoder, BertEncoder):
            raise CheckpointError(f"{path} holds a {type(model).__name__}, which has no BERT encoder")
        return encoder
    encoder = BertEncoder.from_bert_config(ckpt.config, dtype=dtype)
    assign_weights(encoder_slots(encoder), ckpt.weights, source=f"{path} ({ckpt.format} format)",
                   scopes=("bert/",))
    return encoder


def load_pretrainer(path: str | os.PathLike, dtype=None):
    """A `BertPretrainer` (encoder, MLM and NSP heads) with the weights at `path`."""
    from bert_tf.models import BertEncoder, BertPretrainer
    ckpt = read_checkpoint(path)
    if ckpt.keras_model is not None:
        model = ckpt.keras_model
        if isinstance(model, BertPretrainer):
            return model
        raise CheckpointError(f"{path} holds a {type(model).__name__}, not a pretrainer: it has no "
                              f"masked-LM and next-sentence heads; use load_encoder")
    if not ckpt.has_pretraining_heads:
        raise CheckpointError(f"{path} ({ckpt.format} format) has no pretraining heads (no cls/predictions "
                              f"variables); it is an encoder-only checkpoint: use load_encoder")
    model = BertPretrainer(BertEncoder.from_bert_config(ckpt.config, dtype=dtype))
    slots = encoder_slots(model.encoder) + pretraining_head_slots(model)
    assign_weights(slots, ckpt.weights, source=f"{path} ({ckpt.format} format)", scopes=("bert/", "cls/"))
    return model


def original_weights(model) -> dict[str, np.ndarray]:
    """`{original variable name: array}` of an encoder or pretrainer, as the Google format stores them."""
    from bert_tf.checkpoints.google_names import model_slots
    return export_weights(model_slots(model))
