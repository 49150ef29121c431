"""The original pretraining losses and metrics (google-research/bert `run_pretraining.py`).

MLM: cross-entropy at each masked position, weighted by `masked_lm_weights` (0 for padding
predictions), summed and divided by `sum(weights) + 1e-5`. NSP: mean cross-entropy over the batch
(label 1 = B is a random sentence). Total = MLM + NSP. Everything in float32.
"""

from __future__ import annotations

from typing import Mapping

from keras import ops


def masked_lm_loss(mlm_logits, masked_lm_ids, masked_lm_weights):
    """Weighted mean cross-entropy over the masked positions, as the original computes it."""
    logits = ops.cast(mlm_logits, "float32")
    log_probs = ops.log_softmax(logits, axis=-1)
    ids = ops.cast(masked_lm_ids, "int32")
    picked = ops.take_along_axis(log_probs, ops.expand_dims(ids, -1), axis=-1)[..., 0]
    weights = ops.cast(masked_lm_weights, "float32")
    return -ops.sum(picked * weights) / (ops.sum(weights) + 1e-5)


def next_sentence_loss(nsp_logits, next_sentence_labels):
    """Mean cross-entropy of the 2-way next-sentence prediction."""
    logits = ops.cast(nsp_logits, "float32")
    labels = ops.reshape(ops.cast(next_sentence_labels, "int32"), (-1,))
    log_probs = ops.log_softmax(logits, axis=-1)
    picked = ops.take_along_axis(log_probs, ops.expand_dims(labels, -1), axis=-1)[..., 0]
    return -ops.mean(picked)


def masked_lm_accuracy(mlm_logits, masked_lm_ids, masked_lm_weights):
    """(correct, total) weights: accuracy over real masked positions only.

    A position is correct when the label's logit is the largest (an exact tie counts as correct, where
    `argmax` would take the first index). Not `ops.argmax`: Keras' TensorFlow argmax makes several extra
    passes over its input to order -0.0 below +0.0, and over `[batch, predictions, vocab]` logits that was
    12% of a `bert_tiny` pretraining step on CPU.
    """
    label_logit = ops.take_along_axis(mlm_logits, ops.expand_dims(ops.cast(masked_lm_ids, "int32"), -1), axis=-1)
    correct = ops.cast(label_logit[..., 0] >= ops.max(mlm_logits, axis=-1), "float32")
    weights = ops.cast(masked_lm_weights, "float32")
    return ops.sum(correct * weights), ops.sum(weights)


def next_sentence_accuracy(nsp_logits, next_sentence_labels):
    labels = ops.reshape(ops.cast(next_sentence_labels, "int64"), (-1,))
    correct = ops.cast(ops.equal(ops.argmax(nsp_logits, axis=-1), labels), "float32")
    return ops.sum(correct), ops.cast(ops.shape(correct)[0], "float32")


def pretraining_losses(labels: Mapping, outputs: Mapping) -> dict:
    """`{"loss", "mlm_loss", "nsp_loss"}` from the original TFRecord labels and `BertPretrainer` outputs."""
    mlm = masked_lm_loss(outputs["mlm_logits"], labels["masked_lm_ids"], labels["masked_lm_weights"])
    nsp = next_sentence_loss(outputs["nsp_logits"], labels["next_sentence_labels"])
    return {"loss": mlm + nsp, "mlm_loss": mlm, "nsp_loss": nsp}
