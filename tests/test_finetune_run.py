"""`bert-tf finetune / evaluate / predict` end to end on tiny models and slices of the real task data:
sentence classification (SST-2, MRPC, RTE by GLUE name), regression, CoNLL tagging and SQuAD; the run
directory's files; the refusals and the bad-input errors. The full SST-2 run from MiniLM is `slow`."""

import json
import os

import pytest

from tests.conftest import run_cli

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data", "finetune")
SHARED = os.path.join(HERE, "..", "..", "shared", "data")
FAST = ["--max-seq-length", "48", "--batch-size", "16", "--epochs", "1", "--learning-rate", "1e-3"]


@pytest.fixture(scope="module")
def tiny_inits(tmp_path_factory, minilm_vocab):
    """A random bert_tiny on the MiniLM vocab, saved in our format and in the original Google format."""
    from bert_tf import BertEncoder
    from bert_tf.checkpoints import save_native, write_google_checkpoint
    from bert_tf.checkpoints.loading import original_weights
    root = tmp_path_factory.mktemp("inits")
    encoder = BertEncoder.from_preset("bert_tiny", vocab_size=30522)
    native = save_native(encoder, str(root / "native"), vocab_file=minilm_vocab)
    google = write_google_checkpoint(str(root / "google"), encoder.bert_config, original_weights(encoder),
                                     vocab_file=minilm_vocab)
    return {"native": native, "google": google}


def _json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _predict(capsys, *args):
    capsys.readouterr()
    assert run_cli("predict", *args) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("init", ["native", "google"])
def test_sst2_classify_end_to_end(tiny_inits, tmp_path, capsys, init):
    out = str(tmp_path / "run")
    assert run_cli("finetune", "--task", "classify", "--glue", "sst2", "--init", tiny_inits[init],
                   "--train", os.path.join(DATA, "sst2_train_300.tsv"), "--eval-fraction", "0.2",
                   "--output-dir", out, "--eval-every-steps", "5", *FAST) == 0
    results = _json(os.path.join(out, "eval_results.json"))
    assert {"accuracy", "step", "epoch"} <= set(results) and results["examples"] == 60
    history = [json.loads(l) for l in open(os.path.join(out, "eval_history.jsonl"))]
    assert len(history) >= 2 and history[-1]["step"] == results["step"]  # every 5 steps, then the epoch end
    best = _json(os.path.join(out, "best", "eval_results.json"))
    assert best["accuracy"] == max(h["accuracy"] for h in history)  # the best evaluation is the one kept
    run = _json(os.path.join(out, "finetune.json"))
    assert run["meta"]["labels"] == ["0", "1"] and run["meta"]["lower_case"] is True
    from bert_tf import load_encoder
    assert load_encoder(os.path.join(out, "best")).bert_config.hidden_size == 128  # export reads best/
    records = _predict(capsys, out, "--text", "a gorgeous , witty , seductive movie .", "--text", "dull .")
    assert [sorted(r["probabilities"]) for r in records] == [["0", "1"]] * 2
    assert all(abs(sum(r["probabilities"].values()) - 1) < 1e-4 for r in records)
    capsys.readouterr()
    assert run_cli("evaluate", out, "--eval", os.path.join(DATA, "sst2_train_300.tsv")) == 0
    assert json.loads(capsys.readouterr().out)["examples"] == 300
    # The same command again: the run is finished, it is not silently retrained.
    assert run_cli("finetune", "--task", "classify", "--glue", "sst2", "--init", tiny_inits[init],
                   "--train", os.path.join(DATA, "sst2_train_300.tsv"), "--eval-fraction", "0.2",
                   "--output-dir", out, "--eval-every-steps", "5", *FAST) == 2
    assert "already holds this finished run" in capsys.readouterr().err
    # Another run in the same directory is refused.
    assert run_cli("finetune", "--task", "classify", "--glue", "sst2", "--init", tiny_inits[init],
                   "--train", os.path.join(DATA, "sst2_train_300.tsv"), "--output-dir", out, *FAST) == 2
    assert "holds a different fine-tuning run (differs in --eval-fraction)" in capsys.readouterr().err


@pytest.mark.parametrize("task, metrics", [("mrpc", {"f1", "accuracy"}), ("rte", {"accuracy"})])
def test_glue_pairs_run_and_report_their_metrics(tiny_inits, tmp_path, task, metrics):
    out = str(tmp_path / task)
    path = os.path.join(SHARED, task, "train.tsv")
    if not os.path.exists(path):
        path = os.path.join(DATA, f"{task}_train_200.tsv")
    assert run_cli("finetune", "--task", "classify", "--glue", task, "--init", tiny_inits["native"], "--train", path,
                   "--train-limit", "200", "--eval-fraction", "0.25", "--output-dir", out, *FAST) == 0
    results = _json(os.path.join(out, "eval_results.json"))
    assert metrics <= set(results) and all(0 <= results[m] <= 1 for m in metrics)


def test_tfds_glue_by_name(tiny_inits, tmp_path, capsys):
    """`--tfds glue/NAME` reads train/validation of a prepared TFDS dataset (TFDS' mock data stands in for one:
    no network here), and an unprepared one is a clear error, not a download."""
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=40, policy=tfds.testing.MockPolicy.USE_CODE):
        assert run_cli("finetune", "--task", "classify", "--glue", "mrpc", "--tfds", "glue/mrpc", "--init",
                       tiny_inits["native"], "--output-dir", str(tmp_path / "mrpc"), *FAST) == 0
    results = _json(os.path.join(tmp_path, "mrpc", "eval_results.json"))
    assert results["examples"] == 40 and {"f1", "accuracy"} <= set(results)
    capsys.readouterr()
    assert run_cli("finetune", "--task", "classify", "--glue", "sst2", "--tfds", "glue/sst2", "--tfds-data-dir",
                   str(tmp_path / "no-tfds"), "--init", tiny_inits["native"], "--output-dir",
                   str(tmp_path / "x"), *FAST) == 2
    assert "cannot load it without downloading" in capsys.readouterr().err


def test_regression_reports_correlations(tiny_inits, tmp_path, capsys):
    rows = [{"a": f"the film is {w}", "b": f"a {w} movie", "score": s}
            for w, s in (("great", 5.0), ("bad", 0.5), ("fine", 3.0), ("awful", 0.0), ("superb", 4.8))] * 12
    train = tmp_path / "sts.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = str(tmp_path / "reg")
    assert run_cli("finetune", "--task", "regress", "--init", tiny_inits["native"], "--train", str(train),
                   "--eval", str(train), "--text-column", "a", "--text-b-column", "b", "--label-column", "score",
                   "--output-dir", out, *FAST) == 0
    results = _json(os.path.join(out, "eval_results.json"))
    assert {"pearson", "spearman", "mse"} <= set(results)
    records = _predict(capsys, out, "--text", "the film is great", "--text-b", "a great movie")
    assert isinstance(records[0]["score"], float)


def test_conll_tagging_end_to_end(tiny_inits, tmp_path, capsys):
    out = str(tmp_path / "ner")
    assert run_cli("finetune", "--task", "tag", "--init", tiny_inits["native"],
                   "--train", os.path.join(DATA, "conll_train_slice.txt"),
                   "--eval", os.path.join(DATA, "conll_dev_slice.txt"), "--output-dir", out, *FAST) == 0
    results = _json(os.path.join(out, "eval_results.json"))
    assert {"f1", "precision", "recall", "accuracy"} <= set(results)
    assert results["accuracy"] > 0.5  # at least the O tags are learned
    meta = _json(os.path.join(out, "finetune.json"))["meta"]
    assert meta["labels"][0] == "O" and "B-PER" in meta["labels"]
    records = _predict(capsys, out, "--input", os.path.join(DATA, "conll_dev_slice.txt"))
    assert records[0]["words"][:2] == ["CRICKET", "-"] and len(records[0]["tags"]) == len(records[0]["words"])


def test_squad_end_to_end(tiny_inits, tmp_path, capsys):
    out = str(tmp_path / "squad")
    assert run_cli("finetune", "--task", "squad", "--init", tiny_inits["native"],
                   "--train", os.path.join(DATA, "squad_train_slice.json"),
                   "--eval", os.path.join(DATA, "squad_eval_slice.json"), "--output-dir", out,
                   "--max-seq-length", "128", "--doc-stride", "48", "--batch-size", "16", "--epochs", "1") == 0
    results = _json(os.path.join(out, "eval_results.json"))
    assert {"exact_match", "f1"} <= set(results) and results["examples"] == 32
    records = _predict(capsys, out, "--text", "The tower was finished in 1889 in Paris.", "--text-b",
                       "When was the tower finished?")
    # A span of the context, or the original's "empty" when no top-20 start/end pair is a valid span (an untrained
    # tiny model can get there).
    answer = records[0]["answer"]
    assert answer == "empty" or (answer and answer in "The tower was finished in 1889 in Paris.")
    assert abs(sum(x["probability"] for x in records[0]["n_best"]) - 1) < 1e-3 or len(records[0]["n_best"]) == 5


def test_bad_inputs_fail_clearly_before_training(tiny_inits, tmp_path, capsys):
    train = os.path.join(DATA, "sst2_train_300.tsv")
    ragged = tmp_path / "ragged.tsv"
    ragged.write_text("sentence\tlabel\nfine\t1\nbroken row\n")
    unknown = tmp_path / "unknown.tsv"
    unknown.write_text("sentence\tlabel\nfine\t1\nmeh\t2\n")
    cases = [(["--train", str(ragged)], "ragged.tsv:3: ragged row"),
             (["--train", train, "--eval", str(unknown)], "unknown.tsv:3: label '2' is not one of the training labels"),
             (["--train", str(tmp_path / "missing.tsv")], "missing.tsv: no such file")]
    for n, (args, message) in enumerate(cases):
        out = tmp_path / f"out{n}"
        capsys.readouterr()
        assert run_cli("finetune", "--task", "classify", "--glue", "sst2", "--init", tiny_inits["native"],
                       *args, "--output-dir", str(out), *FAST) == 2
        assert message in capsys.readouterr().err
        assert not out.exists()  # nothing written for a run that could not start


MIRRORED = r"""
import sys, tempfile
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from bert_tf.cli import main
init, data = sys.argv[1], sys.argv[2]
out = tempfile.mkdtemp()
common = ["--init", init, "--max-seq-length", "48", "--epochs", "1", "--strategy", "mirrored"]
for i in range(2):  # two runs in one process: each its own MirroredStrategy
    assert main(["finetune", "--task", "classify", "--glue", "sst2", "--train", data + "/sst2_train_300.tsv",
                 "--eval-fraction", "0.2", "--output-dir", f"{out}/c{i}", *common]) == 0
assert main(["finetune", "--task", "tag", "--train", data + "/conll_train_slice.txt", "--eval-fraction", "0.2",
             "--output-dir", f"{out}/t", *common]) == 0
print("MIRRORED OK")
"""


def test_mirrored_over_two_cpu_devices_back_to_back(tiny_inits):
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-c", MIRRORED, tiny_inits["native"], DATA], capture_output=True, text=True,
                          cwd=os.path.dirname(HERE), env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert "MIRRORED OK" in proc.stdout, proc.stderr[-3000:]


def test_killed_run_resumes_from_its_last_epoch(tiny_inits, tmp_path):
    import signal
    import subprocess
    import sys
    import time
    out = tmp_path / "run"
    args = ["finetune", "--task", "classify", "--glue", "sst2", "--init", tiny_inits["native"], "--train",
            os.path.join(DATA, "sst2_train_300.tsv"), "--eval-fraction", "0.2", "--output-dir", str(out),
            "--max-seq-length", "48", "--batch-size", "16", "--epochs", "4"]
    proc = subprocess.Popen([sys.executable, "-m", "bert_tf.cli", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=os.path.dirname(HERE))
    history = out / "eval_history.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if history.exists() and history.read_text().count("\n") >= 1:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = [json.loads(l) for l in history.read_text().splitlines()]
    assert 1 <= len(first) < 4 and not (out / "train_summary.json").exists()
    # An evaluation logged after the last backup, then a line torn by the kill: neither may survive.
    with open(history, "a") as f:
        f.write(json.dumps({**first[-1], "step": 10 ** 6}) + "\n" + '{"step": ')
    assert run_cli(*args) == 0  # the same command resumes
    steps = [json.loads(l)["step"] for l in history.read_text().splitlines()]
    per_epoch = steps[0]
    # One evaluation per epoch, at steps per_epoch, 2 per_epoch, ...: no epoch was trained twice.
    assert steps == [per_epoch * (k + 1) for k in range(4)]
    assert not (out / "backup").exists()  # removed once the run finished


@pytest.mark.slow
def test_sst2_8000_rows_from_minilm_reaches_87_percent(minilm_dir, tmp_path):
    """The acceptance run: MiniLM-L6 on the first 8,000 SST-2 rows, one epoch, length 64, held-out split
    cut from the rest of train (2,000 rows)."""
    path = os.path.join(SHARED, "sst2", "train.tsv")
    lines = open(path, encoding="utf-8").read().splitlines()
    (tmp_path / "train.tsv").write_text("\n".join(lines[:8001]) + "\n")
    (tmp_path / "heldout.tsv").write_text("\n".join([lines[0]] + lines[8001:10001]) + "\n")
    out = str(tmp_path / "run")
    assert run_cli("finetune", "--task", "classify", "--glue", "sst2", "--init", minilm_dir,
                   "--train", str(tmp_path / "train.tsv"), "--eval", str(tmp_path / "heldout.tsv"),
                   "--output-dir", out, "--max-seq-length", "64", "--epochs", "1", "--batch-size", "32",
                   "--learning-rate", "5e-5") == 0
    assert _json(os.path.join(out, "best", "eval_results.json"))["accuracy"] >= 0.87
