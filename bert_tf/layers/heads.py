"""Output layers: pooler, masked-LM, next-sentence, classification, span and tagging heads.

Each head is the original's arithmetic, with the original's checkpoint variables (see
`bert_tf.checkpoints.google_names`). Logits come out in float32 under mixed precision so losses stay
stable.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from bert_tf.layers.activations import get_activation
from bert_tf.layers.dense import FlatDense
from bert_tf.layers.dropout import BertDropout
from bert_tf.layers.layer_norm import BertLayerNorm
from bert_tf.layers.masked_lm_xent import masked_lm_xent


def _init(stddev: float):
    return keras.initializers.TruncatedNormal(stddev=stddev)


def _config(layer: keras.layers.Layer, **fields) -> dict:
    config = keras.layers.Layer.get_config(layer)
    config.update(fields)
    return config


@keras.saving.register_keras_serializable(package="bert_tf")
class BertPooler(keras.layers.Layer):
    """`tanh(W h_[CLS] + b)`: the pooled output the original trains through next-sentence prediction."""

    def __init__(self, hidden_size: int, initializer_range: float = 0.02, **kwargs):
        super().__init__(**kwargs)
        self.hidden_size = hidden_size
        self.initializer_range = initializer_range
        self.dense = keras.layers.Dense(hidden_size, activation="tanh",
                                        kernel_initializer=_init(initializer_range),
                                        dtype=self.dtype_policy, name="dense")

    def build(self, sequence_shape):
        self.dense.build((sequence_shape[0], sequence_shape[-1]))
        self.built = True

    def call(self, sequence_output):
        return self.dense(sequence_output[:, 0, :])

    def compute_output_shape(self, sequence_shape):
        return (sequence_shape[0], self.hidden_size)

    def get_config(self):
        return _config(self, hidden_size=self.hidden_size, initializer_range=self.initializer_range)


@keras.saving.register_keras_serializable(package="bert_tf")
class MaskedLMHead(keras.layers.Layer):
    """Masked-LM logits at `masked_lm_positions` only.

    Gathers the `[batch, max_predictions]` positions first (the vocab projection is the most expensive
    matmul in BERT, so it is never run over the whole sequence), then Dense+activation, LayerNorm, and a
    product with the transposed word-embedding table (weights tied to the input embedding, passed in at
    call time) plus an output bias `[vocab]`.
    """

    def __init__(self, vocab_size: int, hidden_size: int, hidden_act: str = "gelu",
                 initializer_range: float = 0.02, layer_norm_eps: float = 1e-12, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.hidden_act = hidden_act
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.transform = FlatDense(hidden_size, activation=get_activation(hidden_act),
                                            kernel_initializer=_init(initializer_range),
                                            dtype=self.dtype_policy, name="transform")
        self.layer_norm = BertLayerNorm(epsilon=layer_norm_eps,
                                                          dtype=self.dtype_policy, name="layer_norm")

    def build(self, sequence_output_shape, masked_lm_positions_shape=None, embedding_table_shape=None):
        shape = (None, None, self.hidden_size)
        self.transform.build(shape)
        self.layer_norm.build(shape)
        self.output_bias = self.add_weight(name="output_bias", shape=(self.vocab_size,),
                                           initializer="zeros")
        self.built = True

    def call(self, sequence_output, masked_lm_positions, embedding_table):
        flat = self._flat_hidden(sequence_output, masked_lm_positions)
        table = ops.cast(embedding_table, self.compute_dtype)
        # One 2-D GEMM against the transposed table (see FlatDense for why not a rank-3 matmul).
        # BiasAdd rather than `+`, so oneDNN fuses it into the GEMM (see FlatDense).
        logits = tf.nn.bias_add(tf.matmul(flat, table, transpose_b=True),
                                ops.cast(self.output_bias, self.compute_dtype))
        logits = tf.reshape(logits, tf.concat([tf.shape(masked_lm_positions), [self.vocab_size]], axis=0))
        return ops.cast(logits, "float32")

    def xent(self, sequence_output, masked_lm_positions, embedding_table, masked_lm_ids):
        """`(xent, correct)`, float32 `[batch, predictions]`: the cross-entropy of each prediction and
        whether its label has the largest logit, without materialising the logits for autodiff (see
        `bert_tf.layers.masked_lm_xent`; what the pretraining loop trains on)."""
        flat = self._flat_hidden(sequence_output, masked_lm_positions)
        table = ops.cast(embedding_table, self.compute_dtype)
        ids = tf.reshape(tf.cast(masked_lm_ids, tf.int32), [-1])
        xent, correct = masked_lm_xent(flat, table, self.output_bias, ids)
        shape = tf.shape(masked_lm_positions)
        return tf.reshape(xent, shape), tf.reshape(correct, shape)

    def _flat_hidden(self, sequence_output, masked_lm_positions):
        """The transformed states at the masked positions, `[batch * predictions, hidden]`."""
        positions = ops.cast(masked_lm_positions, "int32")
        gathered = tf.gather(sequence_output, positions, batch_dims=1)  # [B, P, H]
        return tf.reshape(self.layer_norm(self.transform(gathered)), [-1, self.hidden_size])

    def compute_output_shape(self, sequence_output_shape, masked_lm_positions_shape=None,
                             embedding_table_shape=None):
        return tuple(masked_lm_positions_shape) + (self.vocab_size,)

    def get_config(self):
        return _config(self, vocab_size=self.vocab_size, hidden_size=self.hidden_size,
                       hidden_act=self.hidden_act, initializer_range=self.initializer_range,
                       layer_norm_eps=self.layer_norm_eps)


@keras.saving.register_keras_serializable(package="bert_tf")
class DenseLogitsHead(keras.layers.Layer):
    """Dropout then a Dense projection to `num_outputs` float32 logits.

    The shared shape of the next-sentence head (on the pooled output, no dropout, 2 outputs), the
    classifier (pooled output), the span head (every token, 2 outputs: start and end) and the tagger
    (every token, one output per tag).
    """

    def __init__(self, num_outputs: int, dropout: float = 0.0, initializer_range: float = 0.02,
                 **kwargs):
        super().__init__(**kwargs)
        self.num_outputs = num_outputs
        self.dropout_rate = dropout
        self.initializer_range = initializer_range
        self.dropout = BertDropout(dropout, dtype=self.dtype_policy, name="dropout")
        self.dense = keras.layers.Dense(num_outputs, kernel_initializer=_init(initializer_range),
                                        dtype=self.dtype_policy, name="dense")

    def build(self, inputs_shape):
        self.dense.build(inputs_shape)
        self.built = True

    def call(self, inputs, training=None):
        return ops.cast(self.dense(self.dropout(inputs, training=training)), "float32")

    def compute_output_shape(self, inputs_shape):
        return tuple(inputs_shape[:-1]) + (self.num_outputs,)

    def get_config(self):
        return _config(self, num_outputs=self.num_outputs, dropout=self.dropout_rate,
                       initializer_range=self.initializer_range)
