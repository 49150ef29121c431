"""Checkpoint import and export: Google BERT, Hugging Face (safetensors) and our own `.keras` folders."""

from bert_tf.checkpoints.errors import CheckpointError, CheckpointNotFoundError
from bert_tf.checkpoints.google import read_google_checkpoint, write_google_checkpoint
from bert_tf.checkpoints.huggingface import read_hf_checkpoint
from bert_tf.checkpoints.loading import (Checkpoint, load_encoder, load_pretrainer, original_weights,
                                         read_checkpoint)
from bert_tf.checkpoints.native import load_keras_model, save_native

__all__ = ["Checkpoint", "CheckpointError", "CheckpointNotFoundError", "load_encoder", "load_keras_model",
           "load_pretrainer", "original_weights", "read_checkpoint", "read_google_checkpoint",
           "read_hf_checkpoint", "save_native", "write_google_checkpoint"]
