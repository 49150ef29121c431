"""Masked-LM cross-entropy straight from the head's hidden states, with a hand-written gradient.

Why: in a small BERT's pretraining step the largest tensors are the `[positions, vocab]` logits
(`bert_tiny`: 640 x 30,522 floats, 78 MB), and on a CPU every pass over them costs more than the
arithmetic. Computed the usual way (matmul, bias add, fused softmax cross-entropy, its gradient, the
bias gradient), autodiff adds passes that need not exist: it scales the whole `softmax - one_hot`
tensor by the per-position loss weights before the two gradient matmuls, sums it again for the bias
gradient, and under XLA also writes a per-element loss tensor only to sum it. The gradient written
out by hand avoids them:

    d loss / d z = g * (p - one_hot)                (g: upstream gradient per position, p = softmax z)
    d hidden     = ((p - one_hot) @ table) * g
    d table      = (p - one_hot)^T @ (hidden * g)
    d bias       = (p - one_hot)^T @ g

The row scale `g` moves onto the small `[positions, hidden]` side of each product, so the only
`[positions, vocab]` tensors are the logits and one softmax-shaped tensor kept for the backward.
Two forms of the same arithmetic, picked at trace time (`bert_tf.layers.compilation`):

- without XLA, `p = softmax z` (one oneDNN kernel) is the kept tensor, and the loss is
  `max z - log(max p) - z[label]` (`max p = 1 / sum exp(z - max z)` exactly, and never below
  1 / vocab, so nothing underflows); TensorFlow's fused `SparseSoftmaxCrossEntropyWithLogits` kernel,
  which also hands back `p - one_hot`, takes 75 ms on 640 x 30,522 logits here against 14 ms for the
  softmax, and the one-hot part costs less as a gather and scatters of n rows (below);
- under XLA, which fuses elementwise chains itself, `e = exp(z - max z)` is the kept tensor and the
  one-hot part is the same gather and scatters (`p = e / sum e`, its scale folded into `g`).

Measured on this repository's 2-core CPU, 640 positions -> 30,522 pieces, forward and backward, against
matmul + `sparse_softmax_cross_entropy_with_logits` under autodiff: width 128, 136 -> 94 ms without
XLA and 95 -> 83 ms with it (the fused-kernel form; the softmax form took a further ~40 ms off a whole
`bert_tiny` step, 283 -> 244 ms, and 843 -> 794 ms off `bert_mini`); width 256 under XLA, the exp form
142 vs 152 ms. Values equal autodiff's to float rounding (tests/test_masked_lm_xent.py: loss, accuracy,
all three gradients, an underflowing label, both forms).

The accuracy comes with it: a position is correct when its label's logit equals the row maximum (an
exact tie counts as correct, as in `bert_tf.models.losses.masked_lm_accuracy`); the label's logit is
read from the same logits as the maximum, so a label that is the maximum compares equal bit for bit.
"""

from __future__ import annotations

import tensorflow as tf

from bert_tf.layers.compilation import building_for_xla


def masked_lm_xent(hidden: tf.Tensor, table: tf.Tensor, bias: tf.Tensor, ids: tf.Tensor):
    """Per-position cross-entropy and correctness of `hidden @ table^T + bias` against `ids`.

    Args:
      hidden: `[n, hidden_size]`, the head's transformed states at the masked positions (compute dtype).
      table: `[vocab, hidden_size]`, the tied word-embedding table (same dtype as `hidden`).
      bias: `[vocab]`, the output bias (used in float32).
      ids: `[n]` int32 labels.

    Returns:
      `(xent, correct)`: float32 `[n]` each; `xent` is differentiable with respect to `hidden`, `table`
      and `bias`, `correct` (1.0 or 0.0) is not.
    """
    ids = tf.cast(ids, tf.int32)
    form = _by_exp if building_for_xla() else _by_softmax
    return form(hidden, table, tf.cast(bias, tf.float32), ids)


def _logits(hidden, table, bias):
    """float32 `hidden @ table^T + bias`; BiasAdd so that oneDNN fuses it into the matmul."""
    return tf.nn.bias_add(tf.cast(tf.matmul(hidden, table, transpose_b=True), tf.float32), bias)


def _by_softmax(hidden, table, bias, ids):
    @tf.custom_gradient
    def xent(hidden, table, bias):
        z = _logits(hidden, table, bias)
        p = tf.nn.softmax(z)
        row_max = tf.reduce_max(z, axis=-1)
        label = tf.gather(z, ids, batch_dims=1)
        # log(sum exp(z - max z)) = -log(max p): the row's largest probability is exp(0) / sum, never
        # below 1 / vocab, so this loses nothing to underflow (unlike -log p[label]).
        loss = row_max - tf.math.log(tf.reduce_max(p, axis=-1)) - label

        def grad(d_xent, d_correct):
            del d_correct  # accuracy has no gradient
            d_xent = tf.cast(d_xent, tf.float32)
            return _gradients(p, d_xent, d_xent, hidden, table, ids)

        correct = tf.stop_gradient(tf.cast(label >= row_max, tf.float32))
        return (loss, correct), grad

    return xent(hidden, table, bias)


def _gradients(dense, row_scale, d_xent, hidden, table, ids):
    """The three gradients of `sum(g * xent)` from `(p - one_hot) * g`, with `p * g = dense * row_scale`
    (`dense` float32 `[n, vocab]`; `row_scale` and `g = d_xent` float32 `[n]`). The dense part goes
    through the matmuls with its row scale on the small side; the one-hot part is a gather and scatters
    of n rows."""
    d = tf.cast(dense, hidden.dtype)
    hidden32 = tf.cast(hidden, tf.float32)
    d_hidden = tf.cast(tf.matmul(d, table), tf.float32) * row_scale[:, None]
    d_hidden -= tf.cast(tf.gather(table, ids), tf.float32) * d_xent[:, None]
    d_table = tf.matmul(d, tf.cast(hidden32 * row_scale[:, None], hidden.dtype), transpose_a=True)
    d_table = tf.tensor_scatter_nd_sub(d_table, ids[:, None], tf.cast(hidden32 * d_xent[:, None], d_table.dtype))
    d_bias = tf.tensor_scatter_nd_sub(tf.linalg.matvec(dense, row_scale, transpose_a=True), ids[:, None], d_xent)
    return tf.cast(d_hidden, hidden.dtype), d_table, d_bias


def _by_exp(hidden, table, bias, ids):
    @tf.custom_gradient
    def xent(hidden, table, bias):
        z = _logits(hidden, table, bias)
        row_max = tf.reduce_max(z, axis=-1)
        e = tf.exp(z - row_max[:, None])
        total = tf.reduce_sum(e, axis=-1)
        label = tf.gather(z, ids, batch_dims=1)
        loss = tf.math.log(total) + row_max - label

        def grad(d_xent, d_correct):
            del d_correct
            d_xent = tf.cast(d_xent, tf.float32)
            # p = e / total: the dense part's row scale is g / total.
            return _gradients(e, d_xent / total, d_xent, hidden, table, ids)

        correct = tf.stop_gradient(tf.cast(label >= row_max, tf.float32))
        return (loss, correct), grad

    return xent(hidden, table, bias)
