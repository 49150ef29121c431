"""`BertLayerNorm` (hand-written training gradient) against Keras' `LayerNormalization` under autodiff."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from bert_tf.layers.layer_norm import BertLayerNorm


def _pair(shape, policy="float32"):
    rng = np.random.default_rng(0)
    x = (rng.normal(size=shape) * 3 + 1).astype("float32")
    dy = rng.normal(size=shape).astype("float32")
    ours, ref = BertLayerNorm(epsilon=1e-12, dtype=policy), keras.layers.LayerNormalization(epsilon=1e-12, dtype=policy)
    ours.build(shape), ref.build(shape)
    for layer in (ours, ref):  # non-trivial gamma and beta, the same in both
        layer.gamma.assign(rng.normal(size=shape[-1:]).astype("float32") if layer is ours else ours.gamma.numpy())
        layer.beta.assign(rng.normal(size=shape[-1:]).astype("float32") if layer is ours else ours.beta.numpy())
    return x, dy, ours, ref


def _forward_backward(layer, x, dy, training, jit=False):
    @tf.function(jit_compile=jit)
    def run(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=training)
            loss = tf.reduce_sum(tf.cast(y, tf.float32) * dy)
        return y, tape.gradient(loss, [x, layer.gamma, layer.beta])
    return run(tf.constant(x))


@pytest.mark.parametrize("jit", [False, True])
def test_training_forward_and_gradients_equal_keras(jit):
    x, dy, ours, ref = _pair((4, 16, 32))
    y, grads = _forward_backward(ours, x, dy, training=True, jit=jit)
    ref_y, ref_grads = _forward_backward(ref, x, dy, training=True)
    np.testing.assert_allclose(y.numpy(), ref_y.numpy(), atol=2e-5, rtol=1e-5)
    for name, g, r in zip(("x", "gamma", "beta"), grads, ref_grads):
        scale = float(np.abs(r.numpy()).max())
        assert scale > 1e-2, name
        np.testing.assert_allclose(g.numpy(), r.numpy(), atol=2e-5 * scale, rtol=1e-4, err_msg=name)


def test_inference_is_keras_own_graph():
    """At inference the layer runs Keras' arithmetic (the graph oneDNN fuses for serving), so the
    hand-written form never reaches an export."""
    x, dy, ours, ref = _pair((2, 8, 16))
    graph = tf.function(lambda x: ours(x, training=False)).get_concrete_function(tf.constant(x)).graph
    assert not any(op.type == "IdentityN" for op in graph.get_operations())  # custom_gradient's marker
    np.testing.assert_array_equal(ours(x, training=False).numpy(), ref(x).numpy())
    trained = tf.function(lambda x: ours(x, training=True)).get_concrete_function(tf.constant(x)).graph
    assert any(op.type == "IdentityN" for op in trained.get_operations())


def test_mixed_bfloat16_stays_float32_inside():
    x, dy, ours, ref = _pair((2, 8, 16), policy="mixed_bfloat16")
    y, grads = _forward_backward(ours, x, dy, training=True)
    ref_y, ref_grads = _forward_backward(ref, x, dy, training=True)
    assert y.dtype == tf.bfloat16 and ours.gamma.dtype == "float32"
    np.testing.assert_allclose(tf.cast(y, tf.float32).numpy(), tf.cast(ref_y, tf.float32).numpy(), atol=0.02, rtol=0.01)
    for g, r in zip(grads, ref_grads):
        np.testing.assert_allclose(tf.cast(g, tf.float32).numpy(), tf.cast(r, tf.float32).numpy(), atol=0.05, rtol=0.02)
