"""`masked_lm_xent` (hand-written gradient) against TensorFlow's own softmax cross-entropy and autodiff:
the softmax form (built outside XLA) and the exp form (built for XLA)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from bert_tf.layers.masked_lm_xent import masked_lm_xent


def _problem(seed: int = 0, n: int = 48, hidden: int = 16, vocab: int = 300):
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(n, hidden)).astype("float32")
    table = (rng.normal(size=(vocab, hidden)) * 0.5).astype("float32")
    bias = (rng.normal(size=vocab) * 0.3).astype("float32")
    logits = h @ table.T + bias
    ids = rng.integers(0, vocab, n).astype("int32")
    ids[: n // 2] = logits[: n // 2].argmax(-1)  # half the labels are the maximum: accuracy is 0.5-ish
    ids[:4] = 7  # repeated labels: the scatter parts of the gradient must add up, not overwrite
    weights = (rng.random(n) < 0.8).astype("float32")
    return h, table, bias, ids, weights


def _reference(h, table, bias, ids, weights):
    h, table, bias = (tf.constant(x) for x in (h, table, bias))
    with tf.GradientTape() as tape:
        tape.watch([h, table, bias])
        logits = tf.matmul(h, table, transpose_b=True) + bias
        xent = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=ids, logits=logits)
        loss = tf.reduce_sum(xent * weights) / weights.sum()
    correct = tf.cast(tf.argmax(logits, -1, output_type=tf.int32) == ids, tf.float32)
    return xent, correct, tape.gradient(loss, [h, table, bias])


def _ours(h, table, bias, ids, weights, jit: bool):
    @tf.function(jit_compile=jit)
    def run(h, table, bias):
        with tf.GradientTape() as tape:
            tape.watch([h, table, bias])
            xent, correct = masked_lm_xent(h, table, bias, ids)
            loss = tf.reduce_sum(xent * weights) / weights.sum()
        return xent, correct, tape.gradient(loss, [h, table, bias])
    return run(tf.constant(h), tf.constant(table), tf.constant(bias))


@pytest.mark.parametrize("jit", [False, True])
def test_loss_accuracy_and_gradients_equal_autodiff(jit):
    problem = _problem()
    ref_xent, ref_correct, ref_grads = _reference(*problem)
    xent, correct, grads = _ours(*problem, jit=jit)
    np.testing.assert_allclose(xent.numpy(), ref_xent.numpy(), rtol=1e-5, atol=1e-5)
    assert 0 < ref_correct.numpy().sum() < len(problem[3])
    np.testing.assert_array_equal(correct.numpy(), ref_correct.numpy())
    for name, ours, ref in zip(("hidden", "table", "bias"), grads, ref_grads):
        scale = float(np.abs(ref.numpy()).max())
        assert scale > 1e-4, name
        np.testing.assert_allclose(ours.numpy(), ref.numpy(), atol=1e-5 * scale, rtol=1e-4, err_msg=name)


@pytest.mark.parametrize("jit", [False, True])
def test_an_exact_tie_counts_as_correct(jit):
    """Two pieces with identical rows and biases tie for the maximum: both labels count as correct,
    as in `losses.masked_lm_accuracy`."""
    h, table, bias, ids, weights = _problem(1)
    top = int((h[0] @ table.T + bias).argmax())
    other = (top + 1) % len(bias)
    table[other], bias[other] = table[top], bias[top]
    h[1] = h[0]  # two predictions of the same state, one labelled with each of the tied pieces
    ids[:2] = [top, other]
    _, correct, _ = _ours(h, table, bias, ids, weights, jit=jit)
    assert correct.numpy()[:2].tolist() == [1.0, 1.0]


def test_bfloat16_hidden_and_table():
    """Under mixed precision the head hands bfloat16 states and table; the result stays float32 and
    close to the float32 computation, and the gradients come back in the inputs' dtypes."""
    h, table, bias, ids, weights = _problem(2)
    with tf.GradientTape() as tape:
        hb, tb, b = tf.constant(h, tf.bfloat16), tf.constant(table, tf.bfloat16), tf.constant(bias)
        tape.watch([hb, tb, b])
        xent, _ = masked_lm_xent(hb, tb, b, ids)
        loss = tf.reduce_sum(xent * weights)
    grads = tape.gradient(loss, [hb, tb, b])
    assert xent.dtype == tf.float32 and [g.dtype for g in grads] == [tf.bfloat16, tf.bfloat16, tf.float32]
    ref_xent, _, _ = _reference(h, table, bias, ids, weights)
    np.testing.assert_allclose(xent.numpy(), ref_xent.numpy(), rtol=0.05, atol=0.05)


@pytest.mark.parametrize("jit", [False, True])
def test_a_label_whose_probability_underflows_keeps_an_exact_finite_loss(jit):
    """A label 150 logits below the row's maximum has probability exp(-150), zero in float32: the loss
    must still be ~150 (it comes from the row maximum and the largest probability, not from p[label])."""
    h, table, bias, ids, weights = _problem(4)
    bias[5] = 200.0  # piece 5 dominates every row
    ids[:] = 9
    bias[9] = 200.0 - 150.0 - float((h @ table[9])[0]) + float((h @ table[5])[0])  # row 0: 150 below
    ref_xent, _, ref_grads = _reference(h, table, bias, ids, weights)
    xent, _, grads = _ours(h, table, bias, ids, weights, jit=jit)
    assert 149 < ref_xent.numpy()[0] < 151
    assert np.isfinite(xent.numpy()).all()
    np.testing.assert_allclose(xent.numpy(), ref_xent.numpy(), rtol=1e-5, atol=1e-4)
    for ours, ref in zip(grads, ref_grads):
        np.testing.assert_allclose(ours.numpy(), ref.numpy(), atol=1e-5 * float(np.abs(ref.numpy()).max()), rtol=1e-4)


def test_the_exp_form_under_xla_the_softmax_form_elsewhere(monkeypatch):
    import bert_tf.layers.masked_lm_xent as module
    built = []
    for name in ("_by_exp", "_by_softmax"):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, real=real, name=name: built.append(name) or real(*a))
    h, table, bias, ids, weights = _problem(3)
    _ours(h, table, bias, ids, weights, jit=True)
    _ours(h, table, bias, ids, weights, jit=False)
    assert built == ["_by_exp", "_by_softmax"]
