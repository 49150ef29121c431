"""Layers and models: interface, masking, serialization, XLA and mixed precision."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from bert_tf import (BertClassifier, BertEncoder, BertPretrainer, BertSpanLabeler, BertTokenClassifier)
from bert_tf.layers import (BertEmbeddings, BertPooler, BertSelfAttention, BertTransformerBlock,
                            DenseLogitsHead, MaskedLMHead, attention_mask_bias, gelu_exact, gelu_tanh)
from conftest import random_ids

VOCAB = 500


def tiny_encoder(**kw):
    return BertEncoder.from_preset("bert_tiny", vocab_size=VOCAB, max_position_embeddings=64, **kw)


def pretraining_inputs(batch=4, seq=24, predictions=5, seed=0):
    rng = np.random.default_rng(seed)
    x = random_ids(batch, seq, VOCAB, seed)
    positions = np.sort(rng.choice(np.arange(1, seq // 2), size=(batch, predictions)), axis=1)
    x["masked_lm_positions"] = positions.astype("int32")
    x["masked_lm_ids"] = rng.integers(1, VOCAB, (batch, predictions)).astype("int32")
    weights = np.ones((batch, predictions), "float32")
    weights[:, -1] = 0.0
    x["masked_lm_weights"] = weights
    x["next_sentence_labels"] = rng.integers(0, 2, (batch, 1)).astype("int32")
    return x


def test_encoder_interface():
    encoder = tiny_encoder()
    assert sorted(i.name for i in encoder.inputs) == ["input_mask", "input_type_ids", "input_word_ids"]
    assert all(i.dtype == "int32" for i in encoder.inputs)
    out = encoder(random_ids(3, 10, VOCAB))
    assert set(out) == {"sequence_output", "pooled_output", "encoder_outputs"}
    assert out["sequence_output"].shape == (3, 10, 128) and out["pooled_output"].shape == (3, 128)
    assert len(out["encoder_outputs"]) == 2
    np.testing.assert_array_equal(out["encoder_outputs"][-1], out["sequence_output"])


def test_padding_does_not_change_real_positions():
    encoder = tiny_encoder()
    x = random_ids(1, 8, VOCAB)
    x["input_mask"][:] = 1
    short = encoder(x)["sequence_output"].numpy()
    padded = {k: np.pad(v, ((0, 0), (0, 5))) for k, v in x.items()}
    padded["input_word_ids"][0, 8:] = 7  # garbage behind the mask must not leak in
    long = encoder(padded)["sequence_output"].numpy()
    np.testing.assert_allclose(long[:, :8], short, atol=1e-5)


def test_gelu_forms_differ_as_expected():
    x = np.linspace(-4, 4, 101).astype("float32")
    from scipy.special import erf
    np.testing.assert_allclose(gelu_exact(x), 0.5 * x * (1 + erf(x / np.sqrt(2))), atol=1e-6)
    tanh = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
    np.testing.assert_allclose(gelu_tanh(x), tanh, atol=1e-6)
    assert np.abs(np.asarray(gelu_exact(x)) - tanh).max() > 1e-4
    assert tiny_encoder(hidden_act="gelu_new").blocks[0].intermediate.activation is gelu_tanh
    assert tiny_encoder().blocks[0].intermediate.activation is gelu_exact


LAYER_CASES = [
    (lambda: BertEmbeddings(VOCAB, 16, max_position_embeddings=32),
     lambda: (np.ones((2, 5), "int32"), np.zeros((2, 5), "int32"))),
    (lambda: BertSelfAttention(16, 4), lambda: (np.random.rand(2, 5, 16).astype("float32"),
                                                attention_mask_bias(np.ones((2, 5), "int32")))),
    (lambda: BertTransformerBlock(16, 4, 64, hidden_act="gelu_new"),
     lambda: (np.random.rand(2, 5, 16).astype("float32"), attention_mask_bias(np.ones((2, 5), "int32")))),
    (lambda: BertPooler(16), lambda: (np.random.rand(2, 5, 16).astype("float32"),)),
    (lambda: DenseLogitsHead(3, dropout=0.1), lambda: (np.random.rand(2, 16).astype("float32"),)),
    (lambda: MaskedLMHead(VOCAB, 16), lambda: (np.random.rand(2, 5, 16).astype("float32"),
                                               np.array([[1, 2], [0, 4]], "int32"),
                                               np.random.rand(VOCAB, 16).astype("float32"))),
]


@pytest.mark.parametrize("make,inputs", LAYER_CASES)
def test_layer_config_round_trip(make, inputs):
    layer = make()
    args = inputs()
    out = layer(*args)
    config = layer.get_config()
    clone = type(layer).from_config(config)
    clone(*args)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(clone(*args), out)
    assert clone.get_config() == config
    # Registered for .keras serialization under the bert_tf package.
    assert keras.saving.get_registered_name(type(layer)).startswith("bert_tf>")


def _task_models():
    return {
        "encoder": tiny_encoder(),
        "pretrainer": BertPretrainer(tiny_encoder()),
        "classifier": BertClassifier(tiny_encoder(), num_classes=3),
        "span": BertSpanLabeler(tiny_encoder()),
        "tagger": BertTokenClassifier(tiny_encoder(), num_labels=9),
    }


def _flat(out):
    return [np.asarray(t) for t in tf.nest.flatten(out)]


@pytest.mark.parametrize("kind", ["encoder", "pretrainer", "classifier", "span", "tagger"])
def test_keras_save_load_and_from_config_give_identical_outputs(kind, tmp_path):
    model = _task_models()[kind]
    x = pretraining_inputs()
    feed = x if kind == "pretrainer" else {k: x[k] for k in ("input_word_ids", "input_mask", "input_type_ids")}
    expected = _flat(model(feed, training=False))
    path = str(tmp_path / f"{kind}.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is type(model)
    for a, b in zip(_flat(loaded(feed, training=False)), expected):
        np.testing.assert_array_equal(a, b)
    clone = type(model).from_config(model.get_config())
    clone.set_weights(model.get_weights())
    for a, b in zip(_flat(clone(feed, training=False)), expected):
        np.testing.assert_array_equal(a, b)


def test_task_output_shapes():
    x = random_ids(2, 12, VOCAB)
    m = _task_models()
    assert m["classifier"](x).shape == (2, 3)
    span = m["span"](x)
    assert span["start_logits"].shape == (2, 12) and span["end_logits"].shape == (2, 12)
    assert m["tagger"](x).shape == (2, 12, 9)


def test_pretrainer_outputs_and_original_losses():
    model = BertPretrainer(tiny_encoder())
    x = pretraining_inputs()
    out = model(x)
    assert out["mlm_logits"].shape == (4, 5, VOCAB) and out["nsp_logits"].shape == (4, 2)
    assert out["sequence_output"].shape == (4, 24, 128) and out["pooled_output"].shape == (4, 128)
    # The MLM head runs on the gathered positions only: logits equal the head on the full sequence, gathered.
    from bert_tf.models.losses import pretraining_losses
    losses = pretraining_losses(x, out)
    logits = out["mlm_logits"].numpy().astype("float64")
    logp = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True)) - logits.max(-1, keepdims=True)
    ce = -np.take_along_axis(logp, x["masked_lm_ids"][..., None], -1)[..., 0]
    w = x["masked_lm_weights"]
    expected_mlm = (ce * w).sum() / (w.sum() + 1e-5)
    nsp = out["nsp_logits"].numpy().astype("float64")
    nsp_logp = nsp - np.log(np.exp(nsp).sum(-1, keepdims=True))
    expected_nsp = -nsp_logp[np.arange(4), x["next_sentence_labels"][:, 0]].mean()
    np.testing.assert_allclose(float(losses["mlm_loss"]), expected_mlm, rtol=1e-5)
    np.testing.assert_allclose(float(losses["nsp_loss"]), expected_nsp, rtol=1e-5)
    np.testing.assert_allclose(float(losses["loss"]), expected_mlm + expected_nsp, rtol=1e-5)


def test_mlm_output_is_tied_to_word_embeddings():
    model = BertPretrainer(tiny_encoder())
    x = pretraining_inputs()
    before = model(x)["mlm_logits"].numpy()
    table = model.encoder.embedding_table
    table.assign(table.numpy() * 2.0)
    assert np.abs(model(x)["mlm_logits"].numpy() - before).max() > 1e-3
    assert len([w for w in model.weights if w.shape == (VOCAB, 128)]) == 1  # one table, not two


def test_pretrainer_forward_and_train_step_compile_with_xla():
    keras.utils.set_random_seed(1)
    model = BertPretrainer(tiny_encoder())
    optimizer = keras.optimizers.AdamW(1e-3)
    x = {k: tf.constant(v) for k, v in pretraining_inputs().items()}
    from bert_tf.models.losses import pretraining_losses

    @tf.function(jit_compile=True)
    def forward(features):
        return model(features, training=False)["mlm_logits"]

    @tf.function(jit_compile=True)
    def train_step(features):
        with tf.GradientTape() as tape:
            loss = pretraining_losses(features, model(features, training=True))["loss"]
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    np.testing.assert_allclose(forward(x), model(x, training=False)["mlm_logits"], atol=1e-4)
    losses = [float(train_step(x)) for _ in range(8)]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    # The XLA graph really is compiled (not a silent fallback): its HLO exists.
    assert "HloModule" in train_step.experimental_get_compiler_ir(x)(stage="hlo")


def test_fit_with_xla_reads_labels_from_features():
    keras.utils.set_random_seed(2)
    model = BertPretrainer(tiny_encoder())
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=True)
    data = tf.data.Dataset.from_tensor_slices(pretraining_inputs(batch=8)).batch(4, drop_remainder=True).repeat()
    history = model.fit(data, steps_per_epoch=2, epochs=3, verbose=0)
    logs = history.history
    assert {"loss", "mlm_loss", "nsp_loss", "mlm_accuracy", "nsp_accuracy"} <= set(logs)
    assert logs["loss"][-1] < logs["loss"][0]
    result = model.evaluate(data, steps=2, verbose=0, return_dict=True)
    assert 0.0 <= result["mlm_accuracy"] <= 1.0 and 0.0 <= result["nsp_accuracy"] <= 1.0


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision(policy):
    keras.mixed_precision.set_global_policy(policy)
    try:
        model = BertPretrainer(tiny_encoder())
        x = pretraining_inputs()
        out = model(x, training=False)
        half = "bfloat16" if policy == "mixed_bfloat16" else "float16"
        assert out["sequence_output"].dtype == half
        assert out["mlm_logits"].dtype == "float32" and out["nsp_logits"].dtype == "float32"
        assert all(w.dtype == "float32" for w in model.weights)
        block = model.encoder.blocks[0]
        assert block.attention_layer_norm.compute_dtype == half  # computes internally in float32 (keras ops)
        optimizer = keras.optimizers.Adam(1e-3)
        if policy == "mixed_float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        model.compile(optimizer=optimizer, jit_compile=True)
        data = tf.data.Dataset.from_tensor_slices(pretraining_inputs(batch=8)).batch(4).repeat()
        logs = model.fit(data, steps_per_epoch=3, epochs=1, verbose=0).history
        assert np.isfinite(logs["loss"][-1])
        # Half precision stays close to float32 on the same weights.
        keras.mixed_precision.set_global_policy("float32")
        ref = BertPretrainer(tiny_encoder())
        ref.set_weights(model.get_weights())
        diff = np.abs(ref(x, training=False)["mlm_logits"].numpy() - model(x, training=False)["mlm_logits"].numpy())
        assert diff.max() < 0.1
    finally:
        keras.mixed_precision.set_global_policy("float32")
