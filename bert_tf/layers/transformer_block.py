"""One post-LayerNorm BERT transformer block."""

from __future__ import annotations

import keras

from bert_tf.layers.activations import get_activation
from bert_tf.layers.dense import FlatDense
from bert_tf.layers.attention import BertSelfAttention
from bert_tf.layers.dropout import BertDropout
from bert_tf.layers.layer_norm import BertLayerNorm


@keras.saving.register_keras_serializable(package="bert_tf")
class BertTransformerBlock(keras.layers.Layer):
    """Self-attention and a feed-forward network, each followed by dropout, residual and LayerNorm.

    Not keras-hub's `TransformerEncoder`: its numerics match (post-LN, eps settable, activation settable)
    but it runs Keras `MultiHeadAttention` (three projections, a mask rebuilt inside `Softmax` on every
    call) and rank-3 `Dense` matmuls. Ours fuses q/k/v, shares one mask bias across layers and uses 2-D
    GEMMs (`FlatDense`); `benchmarks/bench_encoder.py` measures the two side by side.

    `x = LN(x + drop(attn(x)))`, then `x = LN(x + drop(W2 act(W1 x)))`: the post-LN order of the original
    BERT (pre-LN would not load its checkpoints). LayerNorm runs in float32 under mixed precision.

    Example:
    >>> import numpy as np
    >>> from bert_tf.layers.attention import attention_mask_bias
    >>> block = BertTransformerBlock(hidden_size=8, num_heads=2, intermediate_size=32)
    >>> x = np.random.rand(2, 3, 8).astype("float32")
    >>> block(x, attention_mask_bias(np.ones((2, 3), "int32"))).shape
    TensorShape([2, 3, 8])
    """

    def __init__(self, hidden_size: int, num_heads: int, intermediate_size: int,
                 hidden_act: str = "gelu", dropout: float = 0.1, attention_dropout: float = 0.1,
                 initializer_range: float = 0.02, layer_norm_eps: float = 1e-12, **kwargs):
        super().__init__(**kwargs)
        self.hidden_size = hidden_size
        self.num_heads = num_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.dropout_rate = dropout
        self.attention_dropout = attention_dropout
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        init = keras.initializers.TruncatedNormal(stddev=initializer_range)
        policy = self.dtype_policy
        self.attention = BertSelfAttention(hidden_size, num_heads, dropout=attention_dropout,
                                           initializer_range=initializer_range, dtype=policy,
                                           name="attention")
        self.attention_dropout_layer = BertDropout(dropout, dtype=policy, name="attention_dropout")
        self.attention_layer_norm = BertLayerNorm(
            epsilon=layer_norm_eps, dtype=policy, name="attention_layer_norm")
        self.intermediate = FlatDense(intermediate_size, activation=get_activation(hidden_act),
                                               kernel_initializer=init, dtype=policy, name="intermediate")
        self.output_dense = FlatDense(hidden_size, kernel_initializer=init, dtype=policy,
                                               name="output_dense")
        self.output_dropout = BertDropout(dropout, dtype=policy, name="output_dropout")
        self.output_layer_norm = BertLayerNorm(
            epsilon=layer_norm_eps, dtype=policy, name="output_layer_norm")

    def build(self, x_shape, mask_bias_shape=None):
        x_shape = tuple(x_shape)
        self.attention.build(x_shape)
        self.attention_layer_norm.build(x_shape)
        self.intermediate.build(x_shape)
        self.output_dense.build(x_shape[:-1] + (self.intermediate_size,))
        self.output_layer_norm.build(x_shape)
        self.built = True

    def call(self, x, mask_bias, training=None):
        attended = self.attention(x, mask_bias, training=training)
        x = self.attention_layer_norm(x + self.attention_dropout_layer(attended, training=training))
        ffn = self.output_dense(self.intermediate(x))
        return self.output_layer_norm(x + self.output_dropout(ffn, training=training))

    def compute_output_shape(self, x_shape, mask_bias_shape=None):
        return x_shape

    def get_config(self):
        config = super().get_config()
        config.update(hidden_size=self.hidden_size, num_heads=self.num_heads,
                      intermediate_size=self.intermediate_size, hidden_act=self.hidden_act,
                      dropout=self.dropout_rate, attention_dropout=self.attention_dropout,
                      initializer_range=self.initializer_range, layer_norm_eps=self.layer_norm_eps)
        return config
