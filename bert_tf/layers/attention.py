"""Multi-head self-attention with one fused query/key/value projection.

Why our own layer instead of `keras.layers.MultiHeadAttention`: Keras' layer runs three separate
`EinsumDense` projections and builds its mask inside a `Softmax` layer on every call. BERT only ever
needs self-attention with a padding mask, so we project q, k and v with one `[H, 3H]` matmul (one large
GEMM instead of three small ones) and take a precomputed additive mask bias shared by every layer.
The arithmetic is the original's: scores scaled by 1/sqrt(head_size), `(1 - mask) * -10000` added, softmax
in float32 (also under mixed precision), dropout on the probabilities. The checkpoint importers split and
join the fused kernel into the original `query`/`key`/`value` variables.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from bert_tf.layers.dense import FlatDense
from bert_tf.layers.dropout import BertDropout

# The original adds -10000 to masked scores (not -inf): finite in float16, and exp(-10000) is 0.
MASK_ADDER = -10000.0


def attention_mask_bias(input_mask):
    """`[batch, seq]` 0/1 padding mask -> float32 `[batch, 1, 1, seq]` additive bias."""
    mask = ops.cast(input_mask, "float32")
    return ops.expand_dims(ops.expand_dims((1.0 - mask) * MASK_ADDER, 1), 1)


@keras.saving.register_keras_serializable(package="bert_tf")
class BertSelfAttention(keras.layers.Layer):
    """Self-attention over `[batch, seq, hidden]` with an additive `[batch, 1, 1, seq]` mask bias.

    Example:
    >>> import numpy as np
    >>> att = BertSelfAttention(hidden_size=8, num_heads=2)
    >>> x = np.random.rand(2, 3, 8).astype("float32")
    >>> att(x, attention_mask_bias(np.ones((2, 3), "int32"))).shape
    TensorShape([2, 3, 8])
    """

    def __init__(self, hidden_size: int, num_heads: int, dropout: float = 0.1,
                 initializer_range: float = 0.02, **kwargs):
        super().__init__(**kwargs)
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size {hidden_size} is not divisible by num_heads {num_heads}")
        self.hidden_size = hidden_size
        self.num_heads = num_heads
        self.head_size = hidden_size // num_heads
        self.dropout_rate = dropout
        self.initializer_range = initializer_range
        init = keras.initializers.TruncatedNormal(stddev=initializer_range)
        # Kernel columns are [query | key | value], each [hidden]: the original three kernels side by side.
        self.qkv = FlatDense(3 * hidden_size, kernel_initializer=init, bias_initializer="zeros",
                                      dtype=self.dtype_policy, name="qkv")
        self.output_dense = FlatDense(hidden_size, kernel_initializer=init,
                                               bias_initializer="zeros", dtype=self.dtype_policy,
                                               name="output_dense")
        self.dropout = BertDropout(dropout, dtype=self.dtype_policy, name="dropout")

    def build(self, x_shape, mask_bias_shape=None):
        self.qkv.build(x_shape)
        self.output_dense.build(tuple(x_shape[:-1]) + (self.hidden_size,))
        self.built = True

    def call(self, x, mask_bias, training=None):
        batch, seq = ops.shape(x)[0], ops.shape(x)[1]
        # Split on the feature axis (its gradient is one concat) before moving heads forward.
        q, k, v = ops.split(self.qkv(x), 3, axis=-1)  # 3 x [B, S, H]
        heads = (batch, seq, self.num_heads, self.head_size)
        q = ops.transpose(ops.reshape(q, heads), (0, 2, 1, 3))  # [B, N, S, D]
        k = ops.transpose(ops.reshape(k, heads), (0, 2, 3, 1))  # [B, N, D, S]
        v = ops.transpose(ops.reshape(v, heads), (0, 2, 1, 3))  # [B, N, S, D]
        q = q * ops.cast(1.0 / math.sqrt(self.head_size), q.dtype)
        scores = ops.matmul(q, k)  # [B, N, S, S]
        scores = ops.cast(scores, "float32") + ops.cast(mask_bias, "float32")
        probs = ops.cast(ops.softmax(scores, axis=-1), self.compute_dtype)
        probs = self.dropout(probs, training=training)
        context = ops.matmul(probs, v)  # [B, N, S, D]
        context = ops.reshape(ops.transpose(context, (0, 2, 1, 3)), (batch, seq, self.hidden_size))
        return self.output_dense(context)

    def compute_output_shape(self, x_shape, mask_bias_shape=None):
        return x_shape

    def get_config(self):
        config = super().get_config()
        config.update(hidden_size=self.hidden_size, num_heads=self.num_heads,
                      dropout=self.dropout_rate, initializer_range=self.initializer_range)
        return config
