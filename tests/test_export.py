"""`bert-tf export` / `check-serving` / `predict --saved-model`: a tiny fine-tuned classifier exported, then
served in a fresh process with nothing but tensorflow and tensorflow-text, through the TF1 session loader
(what TF Serving and `saved_model_cli run` use), the op check for TF Serving 2.12 and 2.20, and bad inputs."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import run_cli

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.path.join(HERE, "data", "finetune")
TEXTS = ["a gorgeous , witty , seductive movie .", "the plot is a mess and the acting is worse .",
         "", "long " * 500]


@pytest.fixture(scope="module")
def exported(tmp_path_factory, minilm_vocab):
    from bert_tf import BertEncoder
    from bert_tf.checkpoints import save_native
    root = tmp_path_factory.mktemp("export")
    save_native(BertEncoder.from_preset("bert_tiny", vocab_size=30522), str(root / "init"), vocab_file=minilm_vocab)
    run = str(root / "run")
    assert run_cli("finetune", "--task", "classify", "--glue", "sst2", "--init", str(root / "init"), "--train",
                   os.path.join(DATA, "sst2_train_300.tsv"), "--eval-fraction", "0.2", "--output-dir", run,
                   "--max-seq-length", "64", "--epochs", "1", "--learning-rate", "1e-3") == 0
    base = str(root / "saved_models" / "sst2")
    assert run_cli("export", "--model-dir", run, "--output", base) == 0
    return {"run": run, "base": base, "version": os.path.join(base, "1")}


def _keras_probabilities(run_dir, texts):
    """The in-memory Keras model, fed by the tokenizer directly (no serving module)."""
    from bert_tf.finetuning.load import load_finetuned
    run = load_finetuned(run_dir)
    inputs = run.tokenizer.pack(tf.constant(texts), seq_length=64)
    return tf.nn.softmax(run.model(inputs, training=False), -1).numpy()


FRESH = r"""
import json, sys
import numpy as np
import tensorflow as tf
import tensorflow_text  # registers the tokenizer ops; nothing of bert_tf is imported
assert not any(m.startswith("bert_tf") for m in sys.modules)
path, texts = sys.argv[1], json.loads(sys.argv[2])
model = tf.saved_model.load(path)
out = {}
out["text"] = model.signatures["serving_default"](text=tf.constant(texts))["probabilities"].numpy().tolist()
examples = [tf.train.Example(features=tf.train.Features(feature={"text": tf.train.Feature(
    bytes_list=tf.train.BytesList(value=[t.encode()]))})).SerializeToString() for t in texts]
out["examples"] = model.signatures["serve_examples"](examples=tf.constant(examples))["probabilities"].numpy().tolist()
assert not any(m.startswith("bert_tf") for m in sys.modules)
print(json.dumps(out))
"""


def test_fresh_process_serves_what_keras_computes(exported):
    expected = _keras_probabilities(exported["run"], TEXTS)
    proc = subprocess.run([sys.executable, "-c", FRESH, exported["version"], json.dumps(TEXTS)], capture_output=True,
                          text=True, cwd="/", env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(np.array(out["text"]), expected, atol=1e-5)
    np.testing.assert_allclose(np.array(out["examples"]), expected, atol=1e-5)
    # serve_ids: the integer part alone, on the same packed inputs.
    from bert_tf.finetuning.load import load_finetuned
    run = load_finetuned(exported["run"])
    ids = run.tokenizer.pack(tf.constant(TEXTS), seq_length=64)
    loaded = tf.saved_model.load(exported["version"])
    got = loaded.signatures["serve_ids"](**ids)["probabilities"].numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_saved_model_cli_shows_and_runs_the_signatures(exported):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    show = subprocess.run([cli, "show", "--dir", exported["version"], "--all"], capture_output=True, text=True,
                          env=env).stdout
    for name in ("serving_default", "serve_examples", "serve_ids"):
        assert f"signature_def['{name}']" in show
    default = show.split("signature_def['serving_default']")[1]
    assert "inputs['text'] tensor_info:\n        dtype: DT_STRING\n        shape: (-1)" in default
    for output, dtype, shape in (("probabilities", "DT_FLOAT", "(-1, 2)"), ("label", "DT_STRING", "(-1)"),
                                 ("label_id", "DT_INT32", "(-1)"), ("logits", "DT_FLOAT", "(-1, 2)")):
        assert f"outputs['{output}'] tensor_info:\n        dtype: {dtype}\n        shape: {shape}" in default
    ids = show.split("signature_def['serve_ids']")[1].split("signature_def[")[0]
    for name in ("input_word_ids", "input_mask", "input_type_ids"):
        assert f"inputs['{name}'] tensor_info:\n        dtype: DT_INT32\n        shape: (-1, -1)" in ids
    # `saved_model_cli run` loads through a TF1 session, like TF Serving; tensorflow-text registers the ops.
    wrapper = ("import sys, tensorflow_text; from tensorflow.python.tools import saved_model_cli as c; "
               "sys.argv[0] = 'saved_model_cli'; c.main()")
    run = subprocess.run([sys.executable, "-c", wrapper, "run", "--dir", exported["version"], "--tag_set", "serve",
                          "--signature_def", "serving_default", "--input_exprs", f"text={json.dumps(TEXTS[:1])}"],
                         capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    probabilities = run.stdout.split("Result for output key probabilities:")[1].strip().strip("[]").split()
    expected = _keras_probabilities(exported["run"], TEXTS[:1])[0]
    np.testing.assert_allclose([float(p) for p in probabilities], expected, atol=1e-5)


def test_versions_info_and_refusal(exported, capsys):
    info = json.load(open(os.path.join(exported["version"], "export_info.json")))
    assert info["task"] == "classify" and info["labels"] == ["0", "1"] and info["sequence_length"] == 64
    assert info["lower_case"] is True and len(info["vocab_sha256"]) == 64 and info["step"]
    assert os.path.isfile(os.path.join(exported["version"], "assets", "vocab.txt"))
    capsys.readouterr()
    assert run_cli("export", "--model-dir", exported["run"], "--output", exported["base"], "--version", "1") == 2
    assert "version 1 is never overwritten" in capsys.readouterr().err
    assert run_cli("export", "--model-dir", exported["run"], "--output", exported["base"]) == 0  # the next one: 2
    assert sorted(os.listdir(exported["base"])) == ["1", "2"]  # no temporary folder left


def test_predict_from_the_saved_model(exported, capsys):
    capsys.readouterr()
    assert run_cli("predict", "--saved-model", exported["base"], "--text", TEXTS[0], "--text", TEXTS[1]) == 0
    records = [json.loads(l) for l in capsys.readouterr().out.splitlines() if l.startswith("{")]
    expected = _keras_probabilities(exported["run"], TEXTS[:2])
    for record, probs in zip(records, expected):
        np.testing.assert_allclose([record["probabilities"]["0"], record["probabilities"]["1"]], probs, atol=1e-5)
        assert record["label"] == ["0", "1"][int(np.argmax(probs))]


def test_check_serving_passes_ours_and_names_a_missing_op(exported, tmp_path, capsys):
    for target in ("2.12", "2.20"):
        capsys.readouterr()
        assert run_cli("check-serving", exported["base"], "--serving-target", target) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["missing"] == [] and "FastWordpieceTokenizeWithOffsets" in report["custom_ops"]
    # A SavedModel that trims with tensorflow-text's RoundRobinTrimmer (rank-2 ragged: the TFText> op).
    import tensorflow_text as tf_text

    class Trims(tf.Module):
        @tf.function(input_signature=[tf.RaggedTensorSpec([None, None], tf.int32)] * 2)
        def trim(self, a, b):
            return tf_text.RoundRobinTrimmer(8).trim([a, b])[0].flat_values

    path = str(tmp_path / "rr")
    tf.saved_model.save(Trims(), path)
    from bert_tf.export.op_check import saved_model_ops
    assert "TFText>RoundRobinTrim" in saved_model_ops(path)
    capsys.readouterr()
    assert run_cli("check-serving", path, "--serving-target", "2.12") == 2
    assert "does not link op(s) TFText>RoundRobinTrim" in capsys.readouterr().err
    assert run_cli("check-serving", path, "--serving-target", "2.20") == 0


def test_bad_inputs_have_defined_outputs(exported):
    model = tf.saved_model.load(exported["version"])
    serve = model.signatures["serving_default"]
    out = serve(text=tf.constant([b"", b"caf\xff\xfe great", ("word " * 2000).encode()]))
    assert out["probabilities"].shape == (3, 2)
    np.testing.assert_allclose(out["probabilities"].numpy().sum(-1), 1.0, atol=1e-6)
    # Invalid UTF-8 bytes are dropped, as the original's decoder skips them.
    clean = serve(text=tf.constant(["caf great"]))["probabilities"].numpy()
    np.testing.assert_allclose(out["probabilities"].numpy()[1], clean[0], atol=1e-6)
    empty = serve(text=tf.constant([], tf.string))
    assert empty["probabilities"].shape == (0, 2) and empty["label"].shape == (0,)


def test_serve_ids_compiles_with_xla(exported):
    from bert_tf.export.exporter import build_serving_module
    from bert_tf.finetuning.load import load_finetuned
    module = build_serving_module(load_finetuned(exported["run"]))
    ids = module.tokenizer.pack(tf.constant(TEXTS[:2]), seq_length=64)
    compiled = tf.function(module._serve_ids, jit_compile=True)
    np.testing.assert_allclose(compiled(**ids)["probabilities"].numpy(), module.serve_ids(**ids)["probabilities"],
                               atol=1e-5)


@pytest.fixture(scope="module")
def span_and_tag_runs(tmp_path_factory, minilm_vocab):
    from bert_tf import BertEncoder
    from bert_tf.checkpoints import save_native
    root = tmp_path_factory.mktemp("export2")
    save_native(BertEncoder.from_preset("bert_tiny", vocab_size=30522), str(root / "init"), vocab_file=minilm_vocab)
    runs = {}
    for task, extra in (("squad", ["--train", os.path.join(DATA, "squad_train_slice.json"), "--max-seq-length", "128",
                                   "--doc-stride", "48"]),
                        ("tag", ["--train", os.path.join(DATA, "conll_train_slice.txt"), "--max-seq-length", "48"])):
        run = str(root / task)
        assert run_cli("finetune", "--task", task, "--init", str(root / "init"), "--output-dir", run, "--epochs", "1",
                       "--learning-rate", "1e-3", *extra) == 0
        assert run_cli("export", "--model-dir", run, "--output", str(root / "sm" / task)) == 0
        runs[task] = (run, str(root / "sm" / task / "1"))
    return runs


def test_squad_export_answers_like_the_original_post_processing(span_and_tag_runs):
    from bert_tf.finetuning.load import load_finetuned
    from pipelines.finetuning.squad import SquadData, SquadExample, split_context
    from pipelines.finetuning.squad_answers import best_answers
    run_dir, saved = span_and_tag_runs["squad"]
    contexts = ["The tower was finished in 1889 in Paris by Gustave Eiffel's company.",
                "Notre Dame's main building, the Golden Dome, was rebuilt in 1879 after a fire."]
    questions = ["When was the tower finished?", "What was rebuilt after a fire?"]
    loaded = tf.saved_model.load(saved)
    serve = loaded.signatures["serving_default"]
    served = serve(question=tf.constant(questions), context=tf.constant(contexts))
    run = load_finetuned(run_dir)
    data = SquadData("t", [SquadExample(str(i), q, split_context(c)[0], []) for i, (q, c) in
                           enumerate(zip(questions, contexts))], False, [])
    from pipelines.finetuning.squad import squad_features
    features = squad_features(run.tokenizer, data, 128, 48, 64, training=False)
    ids = {k: features.arrays[k] for k in ("input_word_ids", "input_mask", "input_type_ids")}
    out = run.model(ids, training=False)
    # Exhaustive original post-processing (n-best over every position) on the Keras model's logits.
    answers, _ = best_answers(data, features, list(out["start_logits"].numpy()), list(out["end_logits"].numpy()),
                              run.tokenizer, n_best_size=128, max_answer_length=30)
    assert [a.decode() for a in served["answer"].numpy()] == [answers["0"], answers["1"]]
    width = served["start_logits"].shape[1]
    np.testing.assert_allclose(served["start_logits"].numpy(), out["start_logits"].numpy()[:, :width], atol=1e-5)


def test_tagger_export_tags_words_like_predict(span_and_tag_runs):
    from bert_tf.finetuning.load import load_finetuned
    run_dir, saved = span_and_tag_runs["tag"]
    texts = ["John Smith flew to Paris with Lufthansa .", "EU rejects German call to boycott British lamb .",
             " ".join(["Word"] * 80), ""]
    loaded = tf.saved_model.load(saved)
    served = loaded.signatures["serving_default"](text=tf.constant(texts))
    run = load_finetuned(run_dir)
    expected = run.task.predict_texts(run.model, texts)
    for i, record in enumerate(expected):
        n = len(record["words"])
        assert [w.decode() for w in served["words"].numpy()[i][:n]] == record["words"]
        assert [t.decode() for t in served["tags"].numpy()[i][:n]] == record["tags"]
        assert all(t == b"" for t in served["tags"].numpy()[i][n:])
