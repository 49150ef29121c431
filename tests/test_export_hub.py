"""The TF Hub style pair: preprocess + encoder SavedModels reproduce the in-memory model on real sentences, the
MiniLM encoder export gives the transformers reference outputs, `mlm` gives the pretrainer's logits, and the pair
fine-tunes as Keras layers (`TFSMLayer`) in a process with only tensorflow, tensorflow-text and keras."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import run_cli
from tests.test_parity import TOL_REAL, torch_bert_outputs


@pytest.fixture(scope="module")
def minilm_pair(minilm_dir, tmp_path_factory):
    base = str(tmp_path_factory.mktemp("hub") / "minilm")
    assert run_cli("export-hub", "--checkpoint", minilm_dir, "--output", base, "--seq-length", "64") == 0
    return base + "_preprocess/1", base + "_encoder/1"


def test_pair_reproduces_the_model_and_the_reference(minilm_dir, minilm_pair, sentences):
    from bert_tf import BertTokenizer, load_encoder
    preprocess, encoder = (tf.saved_model.load(p) for p in minilm_pair)
    texts = tf.constant(sentences[:16])
    inputs = preprocess(texts)
    tokenizer = BertTokenizer(os.path.join(minilm_dir, "vocab.txt"))
    expected_inputs = tokenizer.pack(texts, seq_length=64)
    for k in expected_inputs:
        np.testing.assert_array_equal(inputs[k].numpy(), expected_inputs[k].numpy())
    out = encoder(inputs)
    assert len(out["encoder_outputs"]) == 6 and out["pooled_output"].shape == (16, 384)
    keras_out = load_encoder(minilm_dir)(expected_inputs, training=False)
    mask = inputs["input_mask"].numpy().astype(bool)
    np.testing.assert_allclose(out["sequence_output"].numpy()[mask], keras_out["sequence_output"].numpy()[mask],
                               atol=1e-5)
    # The foundation issue's reference: transformers' BertModel on the same ids.
    ref_seq, ref_pooled = torch_bert_outputs(minilm_dir, {k: v.numpy() for k, v in inputs.items()})
    assert np.abs(out["sequence_output"].numpy() - ref_seq)[mask].max() <= TOL_REAL
    assert np.abs(out["pooled_output"].numpy() - ref_pooled).max() <= TOL_REAL
    # tokenize + bert_pack_inputs give the same pair packing as the tokenizer.
    pieces = preprocess.tokenize(texts[:4])
    assert pieces.ragged_rank == 2
    packed = preprocess.bert_pack_inputs([pieces, pieces])
    np.testing.assert_array_equal(packed["input_word_ids"].numpy(),
                                  tokenizer.pack(texts[:4], texts[:4], seq_length=64)["input_word_ids"].numpy())


def test_mlm_callable_matches_the_pretrainer(tmp_path, minilm_vocab):
    from bert_tf import BertEncoder, BertPretrainer
    from bert_tf.checkpoints import save_native
    pretrainer = BertPretrainer(BertEncoder.from_preset("bert_tiny", vocab_size=30522))
    save_native(pretrainer, str(tmp_path / "pt"), vocab_file=minilm_vocab)
    assert run_cli("export-hub", "--checkpoint", str(tmp_path / "pt"), "--output", str(tmp_path / "tiny")) == 0
    encoder = tf.saved_model.load(str(tmp_path / "tiny_encoder" / "1"))
    ids = np.random.default_rng(0).integers(1000, 2000, (2, 16)).astype("int32")
    inputs = {"input_word_ids": ids, "input_mask": np.ones_like(ids), "input_type_ids": np.zeros_like(ids),
              "masked_lm_positions": np.array([[1, 5], [2, 3]], "int32")}
    got = encoder.mlm(inputs)["mlm_logits"].numpy()
    np.testing.assert_allclose(got, pretrainer(inputs, training=False)["mlm_logits"].numpy(), atol=1e-5)


FINE_TUNE = r"""
import sys, json
import numpy as np
import tensorflow as tf, tensorflow_text, keras
assert not any(m.startswith("bert_tf") for m in sys.modules)
pre_path, enc_path = sys.argv[1], sys.argv[2]


class SavedModelLayer(keras.layers.TFSMLayer):
    # Keras 3.15's TFSMLayer keeps TensorFlow's ":0" in weight names, and then Adam cannot name its slots
    # ("...:0_momentum is not a valid scope name"); the same happens with Keras' own model.export. Strip it.
    def _add_existing_weight(self, weight):
        self._track_variable(keras.Variable(initializer=weight, trainable=weight.trainable, dtype=weight.dtype,
                                            shape=weight.shape, name=weight.name.split(":")[0].replace("/", "_")))


preprocess = SavedModelLayer(pre_path, call_endpoint="serve", trainable=False)
encoder = SavedModelLayer(enc_path, call_endpoint="serve", call_training_endpoint="serve_training")
text = keras.Input(shape=(), dtype="string")
pooled = encoder(preprocess(text))["pooled_output"]
model = keras.Model(text, keras.layers.Dense(2)(pooled))
model.compile(keras.optimizers.Adam(1e-4), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
before = [w.numpy().copy() for w in encoder.trainable_weights]
data = tf.data.Dataset.from_tensor_slices((["a great film", "a dull film"] * 4, [1, 0] * 4)).batch(4)
model.fit(data, epochs=1, verbose=0)
changed = sum(not np.allclose(a, w.numpy()) for a, w in zip(before, encoder.trainable_weights))
assert not any(m.startswith("bert_tf") for m in sys.modules)
print(json.dumps({"trainable": len(encoder.trainable_weights), "changed": changed}))
"""


def test_pair_fine_tunes_as_keras_layers_without_bert_tf(minilm_pair):
    proc = subprocess.run([sys.executable, "-c", FINE_TUNE, *minilm_pair], capture_output=True, text=True, cwd="/",
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["trainable"] > 50 and out["changed"] == out["trainable"]  # every encoder weight was trained
