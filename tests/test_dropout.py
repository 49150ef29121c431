"""`BertDropout`: the keep rate and the scaling are Bernoulli dropout's (to the 16-bit rounding of the rate), the
masks are fresh each call and reproducible from a seed, and it compiles with XLA."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from bert_tf.layers import BertDropout

N = 2_000_000  # keep-fraction standard deviation at rate 0.1: 2.1e-4


def _keep_fraction(y) -> float:
    return float(np.mean(np.asarray(y) != 0))


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_keep_rate_and_scale_match_bernoulli_dropout(rate):
    x = tf.ones([N // 100, 100])
    y = np.asarray(BertDropout(rate, seed=7)(x, training=True))
    threshold = round(rate * 65536)
    assert abs(_keep_fraction(y) - (1 - threshold / 65536)) < 0.002
    kept = y[y != 0]
    np.testing.assert_allclose(kept, 65536 / (65536 - threshold), rtol=1e-6)
    assert abs(float(y.mean()) - 1.0) < 0.005  # unbiased: E[y] = x


def test_identity_at_inference_and_at_rate_zero():
    x = np.random.rand(4, 8).astype("float32")
    np.testing.assert_array_equal(BertDropout(0.1)(x, training=False), x)
    np.testing.assert_array_equal(BertDropout(0.0)(x, training=True), x)


def test_fresh_masks_each_call_and_reproducible_from_the_seed():
    x = tf.ones([64, 64])
    a, b = BertDropout(0.1, seed=3), BertDropout(0.1, seed=3)
    first_a, first_b = np.asarray(a(x, training=True)), np.asarray(b(x, training=True))
    np.testing.assert_array_equal(first_a, first_b)
    second_a = np.asarray(a(x, training=True))
    assert (first_a != second_a).any()
    keras.utils.set_random_seed(11)
    c = np.asarray(BertDropout(0.1)(x, training=True))
    keras.utils.set_random_seed(11)
    d = np.asarray(BertDropout(0.1)(x, training=True))
    np.testing.assert_array_equal(c, d)


def test_gradient_is_the_mask_times_the_scale():
    x = tf.Variable(tf.ones([32, 33]))  # an odd element count: the last 16-bit half is dropped
    layer = BertDropout(0.1, seed=5)
    with tf.GradientTape() as tape:
        y = layer(x, training=True)
        loss = tf.reduce_sum(y)
    np.testing.assert_allclose(tape.gradient(loss, x), y, rtol=1e-6)


def test_compiles_with_xla_and_keeps_the_rate():
    layer = BertDropout(0.1, seed=9)
    step = tf.function(lambda x: layer(x, training=True), jit_compile=True)
    y = step(tf.ones([N // 100, 100]))
    assert abs(_keep_fraction(y) - 0.9) < 0.002


def test_threefry_under_xla_philox_elsewhere():
    """The generator is Threefry only inside an XLA computation (faster there; TensorFlow's own kernels
    have no Threefry), and both keep the rate."""
    from bert_tf.layers.dropout import _generator
    seen = {}

    def probe(x):
        seen.setdefault(len(seen), _generator())
        return x

    tf.function(probe, jit_compile=True)(tf.ones([1]))
    tf.function(probe)(tf.ones([1]))
    assert seen == {0: "threefry", 1: "philox"} and _generator() == "philox"
    layer = BertDropout(0.1, seed=3)
    plain = tf.function(lambda x: layer(x, training=True))(tf.ones([N // 100, 100]))
    assert abs(_keep_fraction(plain) - 0.9) < 0.002


def test_bfloat16_inputs_stay_bfloat16():
    y = BertDropout(0.1, seed=1, dtype="mixed_bfloat16")(tf.ones([16, 16], tf.bfloat16), training=True)
    assert y.dtype == tf.bfloat16
