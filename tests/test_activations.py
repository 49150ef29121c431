"""GELU's training forms (derivative written out) against Keras' GELU under autodiff, and `FlatDense`
using them only in training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from bert_tf.layers import FlatDense, gelu_exact, gelu_tanh


def _value_and_grad(fn, x, dy, jit=False):
    @tf.function(jit_compile=jit)
    def run(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn(x)
            loss = tf.reduce_sum(tf.cast(y, tf.float32) * dy)
        return y, tape.gradient(loss, x)
    return run(x)


def _exact(activation, x):
    """GELU and its derivative in float64, from the formulas (the truth both float32 forms approximate)."""
    x = x.astype("float64")
    if activation is gelu_exact:
        cdf = 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))
        return x * cdf, cdf + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    c = math.sqrt(2 / math.pi)
    t = np.tanh(c * (x + 0.044715 * x ** 3))
    return 0.5 * x * (1 + t), 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x)


@pytest.mark.parametrize("activation", [gelu_exact, gelu_tanh], ids=["erf", "tanh"])
@pytest.mark.parametrize("jit", [False, True])
def test_training_form_matches_the_formula(activation, jit):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(size=4000) * 3, np.linspace(-12, 12, 97)]).astype("float32")
    dy = np.ones_like(x)
    y, g = _value_and_grad(activation.training_form, tf.constant(x), dy, jit=jit)
    true_y, true_g = _exact(activation, x)
    for name, ours, truth in (("value", y, true_y), ("derivative", g, true_g)):
        # Float32 rounding of the truth: `1 - s` for a sigmoid s near 1, or XLA's erf near +-1, leaves
        # absolute errors of ~2e-6 where the value or derivative is ~1.
        error = np.abs(ours.numpy() - truth)
        bound = 4e-6 + 1e-6 * np.abs(truth)
        assert np.all(error <= bound), (name, float(error.max()), float(x[np.argmax(error - bound)]))


@pytest.mark.parametrize("activation", [gelu_exact, gelu_tanh], ids=["erf", "tanh"])
@pytest.mark.parametrize("dtype,rtol", [(tf.bfloat16, 8e-3), (tf.float16, 1e-3)], ids=["bfloat16", "float16"])
def test_training_form_in_half_precision(activation, dtype, rtol):
    """Under mixed precision the result is the float32 computation rounded once to the half type (in
    float16, `0.5 + 0.5 * erf` computed in place would be 8% off at x = -3)."""
    x = tf.constant(np.linspace(-6, 6, 301), dtype)
    dy = tf.ones([301])
    y, g = _value_and_grad(activation.training_form, x, dy)
    ref_y, ref_g = _value_and_grad(activation, tf.cast(x, tf.float32), dy)
    assert y.dtype == g.dtype == dtype
    np.testing.assert_allclose(tf.cast(y, tf.float32).numpy(), ref_y.numpy(), atol=1e-4, rtol=rtol)
    np.testing.assert_allclose(tf.cast(g, tf.float32).numpy(), ref_g.numpy(), atol=1e-4, rtol=rtol)


def test_flat_dense_differentiates_the_training_form_only_in_training():
    layer = FlatDense(8, activation=gelu_tanh)
    x = tf.random.normal([2, 3, 4])
    layer.build(x.shape)

    def op_types(training):
        fn = tf.function(lambda x: layer(x, training=training))
        return {op.type for op in fn.get_concrete_function(x).graph.get_operations()}
    assert "Sigmoid" in op_types(True) and "Sigmoid" not in op_types(False)
    np.testing.assert_allclose(layer(x, training=True).numpy(), layer(x, training=False).numpy(), atol=1e-6)
