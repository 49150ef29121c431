"""Activation functions by their `bert_config.json` names.

`gelu` is the exact erf form, as in the released checkpoints and Hugging Face; `gelu_new`,
`gelu_tanh` and `gelu_pytorch_tanh` are the tanh approximation. Mixing them up moves hidden states by
~7e-3 on a real checkpoint, so the mapping is explicit rather than left to a library default.
"""

from __future__ import annotations

import math
from typing import Callable

import keras
import tensorflow as tf


def gelu_exact(x):
    return keras.activations.gelu(x, approximate=False)


def gelu_tanh(x):
    return keras.activations.gelu(x, approximate=True)


# Training forms: the same functions with their derivative written out. Without XLA every elementwise
# op is a pass over the `[tokens, intermediate]` tensor, the largest activation of a BERT layer, and
# autodiff of TensorFlow's composite GELU runs about eleven of them backward. Forward and backward of a
# `[4096, 1024]` GELU on this repository's 2-core CPU: tanh form 18-21 -> 12.6 ms, erf form 20-22 ->
# 14-16 ms. Used only in training (`FlatDense` picks them when `training` is true): at inference the
# Keras forms above stay, whose graph oneDNN fuses with the preceding matmul and bias add for serving.
_SQRT_HALF = 1.0 / math.sqrt(2.0)
_PDF_SCALE = 1.0 / math.sqrt(2.0 * math.pi)
# 0.5 * (1 + tanh(u)) = sigmoid(2u), u = sqrt(2 / pi) * (x + 0.044715 x^3): one Sigmoid, whose
# gradient kernel takes s and the upstream gradient in one pass.
_SIG_A = 2.0 * math.sqrt(2.0 / math.pi)
_SIG_B = _SIG_A * 0.044715


@tf.custom_gradient
def _gelu_exact_training(x):
    cdf = 0.5 + 0.5 * tf.math.erf(x * _SQRT_HALF)

    def grad(dy):
        return dy * (cdf + x * (_PDF_SCALE * tf.exp(-0.5 * tf.square(x))))

    return x * cdf, grad


@tf.custom_gradient
def _gelu_tanh_training(x):
    x2 = tf.square(x)
    s = tf.sigmoid(x * (_SIG_A + _SIG_B * x2))

    def grad(dy):
        return dy * s + tf.raw_ops.SigmoidGrad(y=s, dy=dy * x * (_SIG_A + (3.0 * _SIG_B) * x2))

    return x * s, grad


def _in_float32(form: Callable) -> Callable:
    """Half-precision inputs are computed in float32 (`0.5 + 0.5 * erf` cancels in float16 for negative x)."""
    def run(x):
        if x.dtype in (tf.float16, tf.bfloat16):
            return tf.cast(form(tf.cast(x, tf.float32)), x.dtype)
        return form(x)
    return run


gelu_exact.training_form = _in_float32(_gelu_exact_training)
gelu_tanh.training_form = _in_float32(_gelu_tanh_training)


_ACTIVATIONS: dict[str, Callable] = {
    "gelu": gelu_exact,
    "gelu_exact": gelu_exact,
    "gelu_new": gelu_tanh,
    "gelu_tanh": gelu_tanh,
    "gelu_pytorch_tanh": gelu_tanh,
    "relu": keras.activations.relu,
    "tanh": keras.activations.tanh,
    "silu": keras.activations.silu,
    "swish": keras.activations.silu,
}


def get_activation(name: str) -> Callable:
    """The callable for activation `name`; raises `ValueError` for names BERT configs do not use."""
    try:
        return _ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(_ACTIVATIONS)}") from None
