"""`BertPretrainer`: encoder + masked-LM head + next-sentence head, with the original losses."""

from __future__ import annotations

import keras

from bert_tf.layers.heads import DenseLogitsHead, MaskedLMHead
from bert_tf.models import losses
from bert_tf.models.encoder import ENCODER_INPUTS, BertEncoder

LABEL_KEYS = ("masked_lm_ids", "masked_lm_weights", "next_sentence_labels")


@keras.saving.register_keras_serializable(package="bert_tf")
class BertPretrainer(keras.Model):
    """BERT with its pretraining heads.

    Inputs: a dict with the three encoder inputs and `masked_lm_positions` int32
    `[batch, max_predictions]` (extra keys, such as the TFRecord labels, are ignored). Outputs: a dict
    with `mlm_logits` `[batch, max_predictions, vocab]`, `nsp_logits` `[batch, 2]`, `sequence_output` and
    `pooled_output`. The MLM output layer is tied to the word-embedding table; NSP runs on the encoder's
    pooled output, as in the original (so the pooler is trained).

    With `compile()` and `fit()`, the loss is the original's (`bert_tf.models.losses`): labels
    `masked_lm_ids`, `masked_lm_weights`, `next_sentence_labels` come either as `y` or inside `x`
    (a dataset of the original TFRecord features can be fed as is), and the metrics are `mlm_loss`,
    `nsp_loss`, `mlm_accuracy` and `nsp_accuracy`.

    Example:
    >>> import numpy as np
    >>> from bert_tf import BertEncoder, BertPretrainer
    >>> model = BertPretrainer(BertEncoder.from_preset("bert_tiny", vocab_size=1000))
    >>> ids = np.random.randint(1, 1000, (2, 16)).astype("int32")
    >>> out = model({"input_word_ids": ids, "input_mask": np.ones_like(ids),
    ...              "input_type_ids": np.zeros_like(ids),
    ...              "masked_lm_positions": np.array([[1, 2, 0], [3, 0, 0]], "int32")})
    >>> out["mlm_logits"].shape, out["nsp_logits"].shape
    (TensorShape([2, 3, 1000]), TensorShape([2, 2]))
    """

    def __init__(self, encoder: BertEncoder, **kwargs):
        super().__init__(**kwargs)
        cfg = encoder.bert_config
        self.encoder = encoder
        self.masked_lm = MaskedLMHead(cfg.vocab_size, cfg.hidden_size, hidden_act=cfg.hidden_act,
                                      initializer_range=cfg.initializer_range,
                                      layer_norm_eps=cfg.layer_norm_eps, dtype=encoder.dtype_policy,
                                      name="masked_lm")
        self.next_sentence = DenseLogitsHead(2, dropout=0.0, initializer_range=cfg.initializer_range,
                                             dtype=encoder.dtype_policy, name="next_sentence")
        self.mlm_loss_tracker = keras.metrics.Mean(name="mlm_loss")
        self.nsp_loss_tracker = keras.metrics.Mean(name="nsp_loss")
        self.mlm_accuracy_tracker = _RatioMetric(name="mlm_accuracy")
        self.nsp_accuracy_tracker = _RatioMetric(name="nsp_accuracy")
        self._build_heads()
        self.built = True  # the encoder is built and so are the heads

    def _build_heads(self):
        hidden = self.encoder.bert_config.hidden_size
        self.masked_lm.build((None, None, hidden), (None, None))
        self.next_sentence.build((None, hidden))

    def build(self, input_shape=None):
        self.built = True

    @property
    def bert_config(self):
        return self.encoder.bert_config

    def call(self, inputs, training=None):
        encoded = self.encoder({k: inputs[k] for k in ENCODER_INPUTS}, training=training)
        mlm_logits = self.masked_lm(encoded["sequence_output"], inputs["masked_lm_positions"],
                                    self.encoder.embedding_table)
        nsp_logits = self.next_sentence(encoded["pooled_output"], training=training)
        return {"mlm_logits": mlm_logits, "nsp_logits": nsp_logits,
                "sequence_output": encoded["sequence_output"], "pooled_output": encoded["pooled_output"]}

    def training_statistics(self, inputs, training=None):
        """What the pretraining loop needs, computed the cheap way: `mlm_xent` and `mlm_correct`
        (float32 `[batch, predictions]`: each prediction's cross-entropy against `masked_lm_ids`, taken
        from `inputs`, and whether its label has the largest logit) and `nsp_logits`.

        The same numbers as the losses over `call()`'s `mlm_logits`, but the `[batch, predictions,
        vocab]` logits are never handed to autodiff (see `bert_tf.layers.masked_lm_xent`).
        """
        encoded = self.encoder({k: inputs[k] for k in ENCODER_INPUTS}, training=training)
        xent, correct = self.masked_lm.xent(encoded["sequence_output"], inputs["masked_lm_positions"],
                                            self.encoder.embedding_table, inputs["masked_lm_ids"])
        nsp_logits = self.next_sentence(encoded["pooled_output"], training=training)
        return {"mlm_xent": xent, "mlm_correct": correct, "nsp_logits": nsp_logits}

    # -------------------------------------------------------------- fit() support
    @staticmethod
    def _labels(x, y):
        source = y if y is not None else x
        missing = [k for k in LABEL_KEYS if k not in source]
        if missing:
            raise ValueError(f"BertPretrainer needs labels {', '.join(missing)} (in y or in the x dict)")
        return source

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        parts = losses.pretraining_losses(self._labels(x, y), y_pred)
        self.mlm_loss_tracker.update_state(parts["mlm_loss"])
        self.nsp_loss_tracker.update_state(parts["nsp_loss"])
        loss = parts["loss"]
        regularization = self.losses
        if regularization:
            loss = loss + keras.ops.sum(regularization)
        return _scaled_for_replicas(loss)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        labels = self._labels(x, y)
        self.mlm_accuracy_tracker.update_state(*losses.masked_lm_accuracy(
            y_pred["mlm_logits"], labels["masked_lm_ids"], labels["masked_lm_weights"]))
        self.nsp_accuracy_tracker.update_state(*losses.next_sentence_accuracy(
            y_pred["nsp_logits"], labels["next_sentence_labels"]))
        return self.get_metrics_result()

    def get_config(self):
        return {"encoder": keras.saving.serialize_keras_object(self.encoder), "name": self.name,
                "trainable": self.trainable}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        return cls(**config)


@keras.saving.register_keras_serializable(package="bert_tf")
class _RatioMetric(keras.metrics.Metric):
    """Running `sum(numerator) / sum(denominator)`: accuracy over weighted positions."""

    def __init__(self, name: str, **kwargs):
        super().__init__(name=name, **kwargs)
        self.numerator = self.add_variable(shape=(), initializer="zeros", name="numerator")
        self.denominator = self.add_variable(shape=(), initializer="zeros", name="denominator")

    def update_state(self, numerator, denominator):
        self.numerator.assign_add(keras.ops.cast(numerator, "float32"))
        self.denominator.assign_add(keras.ops.cast(denominator, "float32"))

    def result(self):
        return keras.ops.divide_no_nan(self.numerator, self.denominator)

    def reset_state(self):
        self.numerator.assign(0.0)
        self.denominator.assign(0.0)


def _scaled_for_replicas(loss):
    """Under a tf.distribute strategy Keras sums the replicas' gradients and divides the reported loss
    back, so a custom `compute_loss` must return its loss divided by the replica count (as Keras' own
    losses do); without this, two replicas take twice the step of one device."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if replicas > 1:
            loss = loss / replicas
    return loss
