"""Fine-tuning models: sequence classification/regression, span labeling (SQuAD), token tagging.

Each wraps a `BertEncoder` and one `DenseLogitsHead`, as the original fine-tuning scripts do: the
classifier reads the pooled output (`run_classifier.py`), the span labeler and tagger every token
(`run_squad.py`; first-piece tagging). Dropout 0.1 before the head by default.
"""

from __future__ import annotations

import keras

from bert_tf.layers.heads import DenseLogitsHead
from bert_tf.models.encoder import ENCODER_INPUTS, BertEncoder


class _EncoderTask(keras.Model):
    """Shared plumbing: hold the encoder and one head; serialize the encoder with the task."""

    head_inputs = "pooled_output"

    def __init__(self, encoder: BertEncoder, num_outputs: int, dropout: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.num_outputs = num_outputs
        self.dropout = dropout
        cfg = encoder.bert_config
        self.head = DenseLogitsHead(num_outputs, dropout=dropout, initializer_range=cfg.initializer_range,
                                    dtype=encoder.dtype_policy, name="head")
        rank_shape = (None, cfg.hidden_size) if self.head_inputs == "pooled_output" else (None, None, cfg.hidden_size)
        self.head.build(rank_shape)
        self.built = True  # the encoder is built and so is the head

    def build(self, input_shape=None):
        self.built = True

    @property
    def bert_config(self):
        return self.encoder.bert_config

    def _logits(self, inputs, training):
        encoded = self.encoder({k: inputs[k] for k in ENCODER_INPUTS}, training=training)
        return self.head(encoded[self.head_inputs], training=training)

    def get_config(self):
        return {"encoder": keras.saving.serialize_keras_object(self.encoder), "dropout": self.dropout,
                "name": self.name, "trainable": self.trainable, **self._task_config()}

    def _task_config(self) -> dict:
        return {"num_outputs": self.num_outputs}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        return cls(**config)


@keras.saving.register_keras_serializable(package="bert_tf")
class BertClassifier(_EncoderTask):
    """Sentence or sentence-pair classification on the pooled output: logits `[batch, num_classes]`.

    `num_classes=1` gives a regression score (STS-B).

    Example:
    >>> import numpy as np
    >>> from bert_tf import BertClassifier, BertEncoder
    >>> model = BertClassifier(BertEncoder.from_preset("bert_tiny", vocab_size=1000), num_classes=3)
    >>> ids = np.ones((2, 8), "int32")
    >>> model({"input_word_ids": ids, "input_mask": ids, "input_type_ids": 0 * ids}).shape
    TensorShape([2, 3])
    """

    def __init__(self, encoder: BertEncoder, num_classes: int, dropout: float = 0.1, **kwargs):
        kwargs.pop("num_outputs", None)
        super().__init__(encoder, num_classes, dropout=dropout, **kwargs)
        self.num_classes = num_classes

    def call(self, inputs, training=None):
        return self._logits(inputs, training)

    def _task_config(self):
        return {"num_classes": self.num_classes}


@keras.saving.register_keras_serializable(package="bert_tf")
class BertSpanLabeler(_EncoderTask):
    """Extractive QA: `start_logits` and `end_logits` `[batch, seq]` from every token (SQuAD).

    Example:
    >>> import numpy as np
    >>> from bert_tf import BertEncoder, BertSpanLabeler
    >>> model = BertSpanLabeler(BertEncoder.from_preset("bert_tiny", vocab_size=1000))
    >>> ids = np.ones((2, 8), "int32")
    >>> out = model({"input_word_ids": ids, "input_mask": ids, "input_type_ids": 0 * ids})
    >>> out["start_logits"].shape, out["end_logits"].shape
    (TensorShape([2, 8]), TensorShape([2, 8]))
    """

    head_inputs = "sequence_output"

    def __init__(self, encoder: BertEncoder, dropout: float = 0.0, **kwargs):
        # The original span head (`cls/squad/output_weights`) has no dropout of its own.
        kwargs.pop("num_outputs", None)
        super().__init__(encoder, 2, dropout=dropout, **kwargs)

    def call(self, inputs, training=None):
        logits = self._logits(inputs, training)
        return {"start_logits": logits[..., 0], "end_logits": logits[..., 1]}

    def _task_config(self):
        return {}


@keras.saving.register_keras_serializable(package="bert_tf")
class BertTokenClassifier(_EncoderTask):
    """Token tagging (NER): logits `[batch, seq, num_labels]`; train on each word's first piece.

    Example:
    >>> import numpy as np
    >>> from bert_tf import BertEncoder, BertTokenClassifier
    >>> model = BertTokenClassifier(BertEncoder.from_preset("bert_tiny", vocab_size=1000), num_labels=9)
    >>> ids = np.ones((2, 8), "int32")
    >>> model({"input_word_ids": ids, "input_mask": ids, "input_type_ids": 0 * ids}).shape
    TensorShape([2, 8, 9])
    """

    head_inputs = "sequence_output"

    def __init__(self, encoder: BertEncoder, num_labels: int, dropout: float = 0.1, **kwargs):
        kwargs.pop("num_outputs", None)
        super().__init__(encoder, num_labels, dropout=dropout, **kwargs)
        self.num_labels = num_labels

    def call(self, inputs, training=None):
        return self._logits(inputs, training)

    def _task_config(self):
        return {"num_labels": self.num_labels}
