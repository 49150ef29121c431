"""The pretraining loop: the optimizer recipe against the original's formulas, exact gradient
accumulation, XLA, one device vs MirroredStrategy, checkpoints that survive SIGKILL, preflight."""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import tensorflow as tf

from conftest import DATA, run_cli

SLICE = os.path.join(DATA, "gutenberg_books_slice.txt")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, minilm_vocab):
    out = str(tmp_path_factory.mktemp("pretrain") / "data")
    assert run_cli("create-pretraining-data", "--input", SLICE, "--vocab", minilm_vocab, "--output-dir", out,
                    "--dupe-factor", "1", "--num-shards", "2", "--block-mb", "0.25") == 0
    return out


def test_warmup_then_linear_decay():
    from bert_tf.training.optimization import WarmupLinearDecay
    schedule = WarmupLinearDecay(1e-3, total_steps=100, warmup_steps=10)
    values = [float(schedule(step)) for step in (0, 5, 10, 55, 100, 120)]
    np.testing.assert_allclose(values, [0.0, 5e-4, 1e-3, 5e-4, 0.0, 0.0], atol=1e-9)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("bias_correction", [False, True])
def test_bert_adamw_is_the_originals_update(bias_correction, fused):
    """Two steps against google-research/bert's AdamWeightDecayOptimizer written out in numpy: no bias
    correction, decay added to the update, LayerNorm and bias not decayed (and Adam's moments on request);
    both with TensorFlow's fused Adam kernel and with elementwise ops. Epsilon 1e-2 so that where it sits
    in the bias-corrected update shows. The kernel takes `1 - beta` of the float32 betas (0.999 ->
    0.00099998713), so its reference does too; the elementwise path's is `1 - beta` in float64."""
    one_minus = ((1 - np.float32(0.9)), (1 - np.float32(0.999))) if fused else (0.1, 0.001)
    import keras

    from bert_tf.training.optimization import BertAdamW
    rng = np.random.default_rng(0)
    kernel = keras.Variable(rng.normal(size=(3, 4)).astype("float32"), name="kernel")
    gamma = keras.Variable(rng.normal(size=(4,)).astype("float32"), name="gamma")
    kernel.path, gamma.path  # noqa: B018 (paths exist)
    optimizer = BertAdamW(learning_rate=0.1, weight_decay=0.01, exclude=("gamma",), bias_correction=bias_correction,
                          epsilon=1e-2, fused=fused)
    expected = {"kernel": kernel.numpy().copy(), "gamma": gamma.numpy().copy()}
    m = {k: np.zeros_like(v) for k, v in expected.items()}
    v = {k: np.zeros_like(x) for k, x in expected.items()}
    for t in (1, 2):
        grads = {"kernel": rng.normal(size=(3, 4)).astype("float32"), "gamma": rng.normal(size=(4,)).astype("float32")}
        optimizer.apply_gradients([(tf.constant(grads["kernel"]), kernel), (tf.constant(grads["gamma"]), gamma)])
        for name in expected:
            m[name] = m[name] + (grads[name] - m[name]) * one_minus[0]
            v[name] = v[name] + (grads[name] ** 2 - v[name]) * one_minus[1]
            if bias_correction:
                update = (m[name] / (1 - 0.9 ** t)) / (np.sqrt(v[name] / (1 - 0.999 ** t)) + 1e-2)
            else:
                update = m[name] / (np.sqrt(v[name]) + 1e-2)
            if name == "kernel":
                update += 0.01 * expected[name]
            expected[name] = expected[name] - 0.1 * update
    np.testing.assert_allclose(kernel.numpy(), expected["kernel"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gamma.numpy(), expected["gamma"], rtol=1e-5, atol=1e-6)


def _tiny_batch(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"input_word_ids": rng.integers(0, 500, (n, 16)).astype("int32"),
            "input_mask": np.ones((n, 16), "int32"), "input_type_ids": np.zeros((n, 16), "int32"),
            "masked_lm_positions": rng.integers(1, 15, (n, 4)).astype("int32"),
            "masked_lm_ids": rng.integers(0, 500, (n, 4)).astype("int32"),
            "masked_lm_weights": (rng.random((n, 4)) < 0.7).astype("float32"),  # unequal weights per example
            "next_sentence_labels": rng.integers(0, 2, (n, 1)).astype("int32")}


def _tiny_pretrainer():
    """A one-layer, 32-wide BERT with 500 pieces and no dropout (so batch size does not change the math)."""
    from bert_tf import BertEncoder, BertPretrainer
    return BertPretrainer(BertEncoder(vocab_size=500, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                      intermediate_size=64, max_position_embeddings=16, hidden_dropout_prob=0.0,
                                      attention_probs_dropout_prob=0.0))


def _one_step(batch_size: int, accumulation: int, jit: bool = False, optimizer: str = "sgd"):
    import keras

    from bert_tf.training.loop import PretrainingLoop
    from bert_tf.training.optimization import create_optimizer
    keras.utils.set_random_seed(1)
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    with strategy.scope():
        model = _tiny_pretrainer()
        opt = keras.optimizers.SGD(0.5) if optimizer == "sgd" else create_optimizer("adamw", 1e-3, 10, 0, max_grad_norm=None)
        loop = PretrainingLoop(model, opt, strategy, accumulation_steps=accumulation, jit_compile=jit,
                               max_grad_norm=None if optimizer == "sgd" else 1.0)
    before = [v.numpy().copy() for v in model.trainable_variables]
    dataset = tf.data.Dataset.from_tensor_slices(_tiny_batch(32)).batch(batch_size)
    figures = loop.train(iter(strategy.experimental_distribute_dataset(dataset)), 1)
    return [v.numpy() - b for v, b in zip(model.trainable_variables, before)], figures


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_gradient_accumulation_equals_a_larger_batch(optimizer):
    big, big_figures = _one_step(32, 1, optimizer=optimizer)
    accumulated, acc_figures = _one_step(8, 4, optimizer=optimizer)
    scale = max(float(np.abs(u).max()) for u in big)
    assert scale > 1e-4
    for a, b in zip(big, accumulated):
        np.testing.assert_allclose(a, b, atol=1e-5 * max(scale, 1.0), rtol=1e-4)
    assert abs(big_figures["loss"] - acc_figures["loss"]) < 1e-5 and acc_figures["examples"] == 32


def test_the_step_compiles_with_xla():
    plain, _ = _one_step(8, 4, jit=False)
    compiled, _ = _one_step(8, 4, jit=True)
    for a, b in zip(plain, compiled):
        np.testing.assert_allclose(a, b, atol=1e-5)


MIRRORED = textwrap.dedent("""
    import json, sys
    import numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    sys.path.insert(0, sys.argv[1])
    from test_pretraining_loop import _tiny_batch, _tiny_pretrainer
    from bert_tf import BertEncoder, BertPretrainer
    from bert_tf.training.loop import PretrainingLoop
    from bert_tf.training.optimization import create_optimizer
    out = {}
    for name, strategy in (("one", tf.distribute.OneDeviceStrategy("/cpu:0")),
                           ("mirrored", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))):
        keras.utils.set_random_seed(1)
        with strategy.scope():
            model = _tiny_pretrainer()
            optimizer = create_optimizer("adamw", 1e-3, 10, 0, max_grad_norm=None)
            loop = PretrainingLoop(model, optimizer, strategy, max_grad_norm=1.0)
        dataset = tf.data.Dataset.from_tensor_slices(_tiny_batch(48)).batch(16)
        figures = loop.train(iter(strategy.experimental_distribute_dataset(dataset)), 3)
        out[name] = {"weights": [v.numpy().tolist() for v in model.trainable_variables], "loss": figures["loss"],
                     "replicas": strategy.num_replicas_in_sync}
        # model.fit on the same strategy (equal MLM weights, so per-replica and global means agree)
        keras.utils.set_random_seed(1)
        with strategy.scope():
            model = _tiny_pretrainer()
            model.compile(optimizer=keras.optimizers.SGD(0.5))
        data = _tiny_batch(48)
        data["masked_lm_weights"] = np.ones_like(data["masked_lm_weights"])
        model.fit(tf.data.Dataset.from_tensor_slices(data).batch(16), epochs=1, verbose=0)
        out[name]["fit_weights"] = [v.numpy().tolist() for v in model.trainable_variables]
    print(json.dumps(out))
""")


def test_mirrored_over_two_devices_equals_one_device(tmp_path):
    """The custom loop and model.fit, each on MirroredStrategy over two logical CPUs vs one device."""
    script = tmp_path / "mirrored.py"
    script.write_text(MIRRORED)
    done = subprocess.run([sys.executable, str(script), os.path.dirname(__file__)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["mirrored"]["replicas"] == 2 and out["one"]["replicas"] == 1
    assert abs(out["one"]["loss"] - out["mirrored"]["loss"]) < 1e-5
    for a, b in zip(out["one"]["weights"], out["mirrored"]["weights"]):
        np.testing.assert_allclose(np.array(a), np.array(b), atol=2e-6)
    for a, b in zip(out["one"]["fit_weights"], out["mirrored"]["fit_weights"]):  # the model.fit path
        np.testing.assert_allclose(np.array(a), np.array(b), atol=2e-6)


def _pretrain_args(data_dir: str, model_dir: str, steps: int = 20) -> list[str]:
    return ["pretrain", "--config", "bert_tiny", "--input", os.path.join(data_dir, "*.tfrecord"), "--model-dir",
            model_dir, "--train-batch-size", "8", "--num-train-steps", str(steps), "--steps-per-loop", "2",
            "--save-checkpoints-steps", "4", "--warmup-steps", "2", "--learning-rate", "5e-4", "--no-export"]


def test_a_killed_run_resumes_at_its_last_checkpoint(data_dir, tmp_path):
    model_dir = str(tmp_path / "run")
    command = [sys.executable, "-m", "bert_tf.cli", *_pretrain_args(data_dir, model_dir, 40)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None and \
            not glob.glob(os.path.join(model_dir, "checkpoints", "ckpt-8.index")):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    saved = tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints"))
    assert saved is not None and int(saved.rsplit("-", 1)[1]) < 40
    # What a kill can leave when it lands mid-write (it did once in CI): plant it so every run checks it.
    checkpoints = os.path.join(model_dir, "checkpoints")
    open(os.path.join(checkpoints, "checkpoint.tmp0123abcd"), "w").write("model_checkpoint_path: ")
    os.makedirs(os.path.join(checkpoints, "ckpt-99_temp"))
    open(os.path.join(checkpoints, "ckpt-99_temp", "part-00000-of-00001.index"), "wb").write(b"\0")
    open(os.path.join(model_dir, "metrics.jsonl"), "a").write('{"step": 9')
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"resumed from {saved}" in done.stderr
    records = [json.loads(line) for line in open(os.path.join(model_dir, "metrics.jsonl"))]
    assert records[-1]["step"] == 40 and records[-1]["learning_rate"] == 0.0
    assert {"step", "loss", "mlm_accuracy", "nsp_accuracy", "learning_rate", "examples_per_second"} <= set(records[-1])
    assert tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints")).endswith("ckpt-40")
    assert not glob.glob(os.path.join(checkpoints, "*.tmp*")) and not glob.glob(os.path.join(checkpoints, "*_temp"))
    steps = [record["step"] for record in records]
    assert steps == sorted(set(steps)), "rows after the resumed checkpoint must not appear twice"


def test_pretrain_learns_logs_evaluates_and_exports(data_dir, tmp_path, capsys):
    model_dir = str(tmp_path / "run")
    args = _pretrain_args(data_dir, model_dir, 24)
    args.remove("--no-export")
    assert run_cli(*args, "--eval-input", os.path.join(data_dir, "*00000*.tfrecord"), "--eval-steps", "4",
                    "--learning-rate", "2e-3") == 0
    records = [json.loads(line) for line in open(os.path.join(model_dir, "metrics.jsonl"))]
    assert records[-1]["loss"] < records[0]["loss"] - 1.0
    assert os.listdir(os.path.join(model_dir, "logs"))
    assert os.path.exists(os.path.join(model_dir, "export", "encoder", "bert_config.json"))
    assert glob.glob(os.path.join(model_dir, "export", "google", "bert_model.ckpt*"))
    summary = json.load(open(os.path.join(model_dir, "summary.json")))
    assert "eval_mlm_accuracy" in summary and summary["step"] == 24
    capsys.readouterr()
    assert run_cli("evaluate-pretraining", "--model-dir", model_dir, "--input",
                    os.path.join(data_dir, "*00000*.tfrecord"), "--eval-steps", "4", "--batch-size", "8") == 0
    assert "mlm_accuracy" in capsys.readouterr().out
    from bert_tf import load_encoder
    assert load_encoder(os.path.join(model_dir, "export", "google")).bert_config.hidden_size == 128
    # Both exports carry the data's vocab, so the run directory itself is a fine-tuning --init.
    assert os.path.isfile(os.path.join(model_dir, "export", "encoder", "vocab.txt"))
    assert os.path.isfile(os.path.join(model_dir, "export", "google", "vocab.txt"))
    finetuned = str(tmp_path / "sst2")
    assert run_cli("finetune", "--task", "classify", "--glue", "sst2", "--init", model_dir, "--train",
                   os.path.join(DATA, "finetune", "sst2_train_300.tsv"), "--train-limit", "64", "--output-dir",
                   finetuned, "--max-seq-length", "32", "--epochs", "1") == 0
    assert os.path.isfile(os.path.join(finetuned, "best", "model.keras"))


def test_preflight_refuses_mismatches(data_dir, tmp_path, capsys):
    def error(*extra, config="bert_tiny", model_dir=None):
        args = _pretrain_args(data_dir, model_dir or str(tmp_path / "pre"), 2)
        args[args.index("--config") + 1] = config
        code = run_cli(*args, *extra)
        return code, capsys.readouterr().err

    small_vocab = tmp_path / "small.json"
    small_vocab.write_text(json.dumps({"vocab_size": 1000, "hidden_size": 128, "num_hidden_layers": 2,
                                       "num_attention_heads": 2, "intermediate_size": 512}))
    code, err = error(config=str(small_vocab))
    assert code == 2 and "vocab of 30522 pieces" in err and "vocab_size is 1000" in err
    code, err = error("--max-seq-length", "64")
    assert code == 2 and "max_seq_length 128 but --max-seq-length is 64" in err
    code, err = error("--tpu", "my-tpu")
    assert code == 2 and "gs://" in err
    code, err = error("--train-batch-size", "10", "--gradient-accumulation-steps", "4")
    assert code == 2 and "not divisible" in err
    code, err = error("--warmup-steps", "100")  # the default warmup on a 2-step run: an error, not a traceback
    assert code == 2 and "--warmup-steps 100 must be between 0 and --num-train-steps 2" in err
    args = _pretrain_args(data_dir, str(tmp_path / "glob"), 2)
    args[args.index("--input") + 1] = str(tmp_path / "nothing*.tfrecord")
    assert run_cli(*args) == 2 and "no TFRecord file matches" in capsys.readouterr().err
    # a run directory of another model
    taken = str(tmp_path / "taken")
    assert run_cli(*_pretrain_args(data_dir, taken, 2)) == 0
    before = sorted(os.listdir(os.path.join(taken, "checkpoints")))
    code, err = error(config="bert_mini", model_dir=taken)
    assert code == 2 and "holds a run of another model" in err
    assert sorted(os.listdir(os.path.join(taken, "checkpoints"))) == before


def test_a_diverging_run_stops_and_keeps_the_last_good_checkpoint(data_dir, tmp_path, monkeypatch, capsys):
    from bert_tf.training.loop import PretrainingLoop
    model_dir = str(tmp_path / "nan")
    real = PretrainingLoop.train
    calls = []

    def train(self, iterator, num_steps):
        calls.append(num_steps)
        figures = real(self, iterator, num_steps)
        return {**figures, "loss": float("nan")} if len(calls) == 3 else figures

    monkeypatch.setattr(PretrainingLoop, "train", train)
    assert run_cli(*_pretrain_args(data_dir, model_dir, 12)) == 2
    err = capsys.readouterr().err
    assert "the loss is nan at step 6" in err and "ckpt-4" in err
    assert tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints")).endswith("ckpt-4")


MULTI_WORKER = textwrap.dedent("""
    import json, os, sys
    import numpy as np, tensorflow as tf
    import keras
    sys.path.insert(0, sys.argv[1])
    from test_pretraining_loop import _tiny_batch, _tiny_pretrainer
    from bert_tf import BertEncoder, BertPretrainer
    from bert_tf.training.loop import PretrainingLoop
    from bert_tf.training.optimization import create_optimizer
    from bert_tf.training.strategy import make_strategy
    strategy = make_strategy("multi_worker")
    keras.utils.set_random_seed(1)
    with strategy.scope():
        model = _tiny_pretrainer()
        optimizer = create_optimizer("adamw", 1e-3, 10, 0, max_grad_norm=None)
        loop = PretrainingLoop(model, optimizer, strategy, accumulation_steps=2)
    def dataset_fn(context):
        batch = context.get_per_replica_batch_size(16)
        return tf.data.Dataset.from_tensor_slices(_tiny_batch(96)).shard(
            context.num_input_pipelines, context.input_pipeline_id).batch(batch).repeat()
    iterator = iter(strategy.distribute_datasets_from_function(dataset_fn))
    figures = loop.train(iterator, 2)
    with open(sys.argv[2], "w") as f:
        json.dump({"weights": [v.numpy().tolist() for v in model.trainable_variables], "loss": figures["loss"],
                   "replicas": strategy.num_replicas_in_sync, "examples": figures["examples"]}, f)
""")


def test_two_workers_on_loopback_train_to_identical_weights(tmp_path):
    import socket
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("localhost", 0))
            ports.append(s.getsockname()[1])
    script = tmp_path / "worker.py"
    script.write_text(MULTI_WORKER)
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    processes = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
                   TF_CPP_MIN_LOG_LEVEL="2")
        processes.append(subprocess.Popen([sys.executable, str(script), os.path.dirname(__file__),
                                           str(tmp_path / f"worker{index}.json")], env=env,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for process in processes:
        _, err = process.communicate(timeout=600)
        assert process.returncode == 0, err[-3000:]
    first, second = (json.load(open(tmp_path / f"worker{i}.json")) for i in range(2))
    assert first["replicas"] == second["replicas"] == 2 and np.isfinite(first["loss"])
    assert first["examples"] == second["examples"] == 64  # 2 steps x 2 micro-batches x global 16
    for a, b in zip(first["weights"], second["weights"]):
        np.testing.assert_array_equal(np.array(a), np.array(b))


def test_fit_with_keras_gradient_accumulation_equals_a_larger_batch():
    """`model.fit` path: Keras' own accumulation (mean of micro-batch gradients) gives the 4x batch's
    update when every micro-batch carries the same MLM weight, as full-length pretraining data does."""
    import keras

    def fit(batch_size, accumulation):
        keras.utils.set_random_seed(1)
        model = _tiny_pretrainer()
        model.compile(optimizer=keras.optimizers.SGD(0.5, gradient_accumulation_steps=accumulation))
        before = [v.numpy().copy() for v in model.trainable_variables]
        data = _tiny_batch(32)
        data["masked_lm_weights"] = np.ones_like(data["masked_lm_weights"])
        model.fit(tf.data.Dataset.from_tensor_slices(data).batch(batch_size), epochs=1, verbose=0)
        return [v.numpy() - b for v, b in zip(model.trainable_variables, before)]

    big, accumulated = fit(32, None), fit(8, 4)
    assert max(float(np.abs(u).max()) for u in big) > 1e-4
    for a, b in zip(big, accumulated):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-4)


def test_a_corrupt_tfrecord_is_named(data_dir, tmp_path, capsys):
    import shutil
    broken = tmp_path / "broken"
    shutil.copytree(data_dir, broken)
    shard = sorted(glob.glob(str(broken / "*.tfrecord")))[0]
    raw = bytearray(open(shard, "rb").read())
    raw[5000:5010] = b"\xff" * 10  # inside the first records: a checksum mismatch
    open(shard, "wb").write(bytes(raw))
    assert run_cli(*_pretrain_args(str(broken), str(tmp_path / "run"), 4)) == 2
    err = capsys.readouterr().err
    assert f"{shard} is corrupt" in err and "Checkpoints are untouched" in err
    raw[20:24] = b"\x00\x00\x00\x00"  # the very first record: caught by the preflight
    open(shard, "wb").write(bytes(raw))
    assert run_cli(*_pretrain_args(str(broken), str(tmp_path / "run2"), 4)) == 2
    assert f"{shard} is corrupt" in capsys.readouterr().err


def test_a_second_phase_with_longer_sequences(data_dir, tmp_path, minilm_vocab):
    short = str(tmp_path / "short")
    assert run_cli("create-pretraining-data", "--input", SLICE, "--vocab", minilm_vocab, "--output-dir", short,
                    "--dupe-factor", "1", "--max-seq-length", "64", "--max-predictions-per-seq", "10") == 0
    model_dir = str(tmp_path / "phased")
    args = _pretrain_args(short, model_dir, 4)
    args += ["--max-seq-length", "64", "--max-predictions-per-seq", "10",
             "--phase2-input", os.path.join(data_dir, "*.tfrecord"), "--phase2-steps", "4",
             "--phase2-max-seq-length", "128", "--phase2-max-predictions-per-seq", "20", "--phase2-warmup-steps", "2"]
    assert run_cli(*args) == 0
    records = [json.loads(line) for line in open(os.path.join(model_dir, "metrics.jsonl"))]
    assert [(r["step"], r["phase"]) for r in records] == [(2, 1), (4, 1), (6, 2), (8, 2)]
    # each phase warms up (2 steps) and decays to zero on its own: 5e-4 peak
    assert [round(r["learning_rate"], 7) for r in records] == [5e-4, 0.0, 5e-4, 0.0]  # the rate of the next step
    assert tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints")).endswith("ckpt-8")
    wrong = _pretrain_args(short, str(tmp_path / "wrong"), 4) + [
        "--max-seq-length", "64", "--max-predictions-per-seq", "10", "--phase2-input",
        os.path.join(data_dir, "*.tfrecord"), "--phase2-steps", "4", "--phase2-max-seq-length", "512"]
    assert run_cli(*wrong) == 2


def test_float16_loss_scaling_skips_overflowing_steps():
    """mixed_float16: Keras' LossScaleOptimizer in the loop; a step whose scaled loss overflows changes no
    weight and halves the scale; a normal step trains."""
    import keras

    from bert_tf.training.loop import PretrainingLoop
    from bert_tf.training.optimization import create_optimizer
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        keras.utils.set_random_seed(1)
        strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
        with strategy.scope():
            model = _tiny_pretrainer()
            optimizer = keras.optimizers.LossScaleOptimizer(create_optimizer("adamw", 1e-3, 10, 0, max_grad_norm=None))
            loop = PretrainingLoop(model, optimizer, strategy, accumulation_steps=2)
        assert model.encoder.compute_dtype == "float16" and model.trainable_variables[0].dtype == "float32"
        data = iter(strategy.experimental_distribute_dataset(
            tf.data.Dataset.from_tensor_slices(_tiny_batch(64)).batch(8).repeat()))
        before = [v.numpy().copy() for v in model.trainable_variables]
        optimizer.dynamic_scale.assign(3e38)  # the scaled loss overflows float32
        loop.train(data, 1)
        assert all(np.array_equal(b, v.numpy()) for b, v in zip(before, model.trainable_variables))
        assert float(optimizer.dynamic_scale.numpy()) == pytest.approx(1.5e38)
        optimizer.dynamic_scale.assign(2.0 ** 15)
        figures = loop.train(data, 2)
        assert np.isfinite(figures["loss"])
        assert any(not np.array_equal(b, v.numpy()) for b, v in zip(before, model.trainable_variables))
    finally:
        keras.mixed_precision.set_dtype_policy("float32")


def test_step_statistics_are_the_originals_losses():
    """The loop's MLM loss and accuracy (from `training_statistics`, without logits for autodiff) and NSP
    loss equal the original's formulas computed in numpy over `call()`'s logits: -sum(w *
    log_softmax(logits)[id]) / sum(w), argmax accuracy, mean NSP cross-entropy."""
    from bert_tf.training.loop import PretrainingLoop
    model = _tiny_pretrainer()
    raw = _tiny_batch(8)
    outputs = model({k: tf.constant(v) for k, v in raw.items()}, training=False)
    logits = outputs["mlm_logits"].numpy().astype("float64")
    raw["masked_lm_ids"][:4] = logits[:4].argmax(-1)  # half the rows right, so accuracy is neither 0 nor 1
    batch = {k: tf.constant(v) for k, v in raw.items()}
    import keras
    loop = PretrainingLoop(model, keras.optimizers.SGD(0.1), tf.distribute.get_strategy())
    stats = {k: float(v) for k, v in loop._micro_stats(batch, model.training_statistics(batch, training=False)).items()}

    def log_softmax(x):
        x = x - x.max(-1, keepdims=True)
        return x - np.log(np.exp(x).sum(-1, keepdims=True))

    ids, weights = raw["masked_lm_ids"], raw["masked_lm_weights"]
    picked = np.take_along_axis(log_softmax(logits), ids[..., None], -1)[..., 0]
    np.testing.assert_allclose(stats["mlm_loss_sum"], -(picked * weights).sum(), rtol=1e-5)
    assert stats["mlm_weight"] == weights.sum()
    nsp = log_softmax(outputs["nsp_logits"].numpy().astype("float64"))
    labels = raw["next_sentence_labels"].reshape(-1)
    np.testing.assert_allclose(stats["nsp_loss_sum"], -nsp[np.arange(8), labels].sum(), rtol=1e-5)
    correct = (logits.argmax(-1) == ids) * weights
    assert 0 < correct.sum() < weights.sum()
    assert stats["mlm_correct"] == correct.sum()


def test_mlm_accuracy_matches_an_argmax_reference():
    """Our accuracy compares the label's logit with the maximum (cheaper than Keras' argmax on CPU);
    on logits without ties it must equal the original's argmax accuracy, masked positions weighted."""
    from bert_tf.models import losses
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(6, 5, 50)).astype("float32")
    ids = rng.integers(0, 50, size=(6, 5))
    ids[:3] = logits[:3].argmax(-1)  # half the rows right, so the count is far from 0 and from all
    weights = (rng.random((6, 5)) < 0.7).astype("float32")
    correct, total = losses.masked_lm_accuracy(tf.constant(logits), tf.constant(ids), tf.constant(weights))
    expected = ((logits.argmax(-1) == ids) * weights).sum()
    assert float(total) == weights.sum() and 0 < expected < weights.sum()
    assert float(correct) == expected


def test_adam_epsilon_reaches_the_optimizer(monkeypatch):
    """`--adam-epsilon` (the quickstart uses 1e-3) goes from the CLI into the options and the optimizer."""
    import bert_tf.training.pretrain as pretrain
    from bert_tf.cli import main
    from bert_tf.training.optimization import create_optimizer

    seen = {}
    monkeypatch.setattr(pretrain, "run_pretraining", lambda options: seen.setdefault("options", options) and {})
    assert main(["pretrain", "--config", "bert_tiny", "--input", "x", "--model-dir", "y", "--adam-epsilon", "1e-3"]) == 0
    assert seen["options"].adam_epsilon == 1e-3
    assert pretrain.PretrainOptions(config="c", input="i", model_dir="m").adam_epsilon == 1e-6  # the original's
    assert create_optimizer("adamw", epsilon=1e-3).epsilon == 1e-3
