"""`BertDropout`: Keras `Dropout` that draws 16 random bits per element instead of a 32-bit float.

Why: in a small BERT's train step the random numbers are the largest cost outside the matrix products
(`bert_tiny`, batch 8 x 128, XLA on: 39.6 ms with dropout 0.1, 30.7 ms with none). Keras draws one 32-bit
uniform float per element; we draw half as many 32-bit words from the same stateless generator and
compare each 16-bit half with an integer threshold, which halves the generator's work. The generator
is named (`alg="philox"`) rather than left to `auto_select`: under XLA on CPU the default algorithm
lowers to a path about 3x slower (measured: dropout on `[32, 2, 128, 128]` attention probabilities,
forward and backward, 10.9 ms vs 3.7 ms; `[32, 128, 128]` hidden states 5.4 vs 2.4 ms), and a named
Philox gives the same mask with and without XLA on every device.

Arithmetic: an element is kept with probability `1 - t / 65536`, `t = round(rate * 65536)` (rate 0.1:
0.8999939 instead of 0.9), and kept elements are scaled by `65536 / (65536 - t)`, so the expected output
equals the input exactly, as with Keras. The seed comes from the layer's Keras `SeedGenerator` (its state
is saved in checkpoints like Keras'), so runs are reproducible with `keras.utils.set_random_seed`.
A `noise_shape` (BERT never uses one) falls back to Keras' own dropout.
"""

from __future__ import annotations

import keras
import tensorflow as tf

_LEVELS = 65536  # 16 bits
_ALG = "philox"  # named, not auto_select: see the module docstring


def _int32_seed(seed: tf.Tensor) -> tf.Tensor:
    """Keras keeps seed state as int64 on TensorFlow; the stateless ops take int32 pairs."""
    if seed.dtype == tf.int32:
        return seed
    return tf.cast(tf.math.floormod(seed, tf.int32.max - 1), tf.int32)


@keras.saving.register_keras_serializable(package="bert_tf")
class BertDropout(keras.layers.Dropout):
    """Inverted dropout with a 16-bit threshold; identity at inference.

    Example:
    >>> import numpy as np
    >>> y = BertDropout(0.1, seed=1)(np.ones((1000, 100), "float32"), training=True)
    >>> 0.89 < float(np.mean(np.asarray(y) > 0)) < 0.91
    True
    """

    def call(self, inputs, training=False):
        if not training or self.rate == 0 or self.noise_shape is not None:
            return super().call(inputs, training=training)
        threshold = round(self.rate * _LEVELS)
        if threshold >= _LEVELS:
            return tf.zeros_like(inputs)
        seed = _int32_seed(self.seed_generator.next())
        count = tf.size(inputs)
        words = tf.random.stateless_uniform([(count + 1) // 2], seed=seed, minval=None, maxval=None,
                                            dtype=tf.uint32, alg=_ALG)
        halves = tf.reshape(tf.bitcast(words, tf.uint16), [-1])[:count]
        keep = tf.reshape(halves >= threshold, tf.shape(inputs))
        scale = tf.cast(_LEVELS / (_LEVELS - threshold), inputs.dtype)
        return tf.where(keep, inputs * scale, tf.zeros_like(inputs))
