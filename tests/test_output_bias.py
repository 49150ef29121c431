"""`--output-bias-prior`: the MLM output bias starts at the data's log piece frequencies, counted from
static masks (real predictions only) or from unmasked records (every real piece but [CLS]/[SEP])."""

from __future__ import annotations

import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from conftest import DATA, run_cli

SLICE = os.path.join(DATA, "gutenberg_books_slice.txt")


def _records(pattern: str) -> list[dict[str, np.ndarray]]:
    """Every record's features, read with protobuf alone (independent of our parser)."""
    out = []
    for path in sorted(glob.glob(pattern)):
        for raw in tf.data.TFRecordDataset(path):
            feature = tf.train.Example.FromString(raw.numpy()).features.feature
            out.append({k: np.array(v.int64_list.value or v.float_list.value) for k, v in feature.items()})
    return out


@pytest.fixture(scope="module")
def made(tmp_path_factory, minilm_vocab):
    root = tmp_path_factory.mktemp("bias")
    dirs = {}
    for name, extra in (("static", []), ("dynamic", ["--dynamic-masking"])):
        dirs[name] = str(root / name)
        assert run_cli("create-pretraining-data", "--input", SLICE, "--vocab", minilm_vocab, "--output-dir",
                       dirs[name], "--dupe-factor", "1", "--num-shards", "2", "--block-mb", "0.25", *extra) == 0
    return dirs


def test_counts_are_the_real_prediction_targets(made):
    from bert_tf.training.output_bias import count_target_pieces
    pattern = os.path.join(made["static"], "*.tfrecord")
    counts, records = count_target_pieces(pattern, 30522)
    expected = np.zeros(30522, np.int64)
    rows = _records(pattern)
    for r in rows:
        expected += np.bincount(r["masked_lm_ids"][r["masked_lm_weights"] > 0].astype(np.int64), minlength=30522)
    assert records == len(rows) > 100
    np.testing.assert_array_equal(counts, expected)
    limited, read = count_target_pieces(pattern, 30522, max_records=37)
    assert read == 37 and 0 < limited.sum() < counts.sum()


def test_unmasked_records_count_every_real_piece_but_cls_and_sep(made, minilm_vocab):
    from bert_tf.training.output_bias import count_target_pieces
    vocab = [line.rstrip("\n") for line in open(minilm_vocab, encoding="utf-8")]
    cls, sep = vocab.index("[CLS]"), vocab.index("[SEP]")
    pattern = os.path.join(made["dynamic"], "*.tfrecord")
    counts, _ = count_target_pieces(pattern, len(vocab))
    expected = np.zeros(len(vocab), np.int64)
    for r in _records(pattern):
        ids = r["input_ids"][r["input_mask"] > 0].astype(np.int64)
        expected += np.bincount(ids[(ids != cls) & (ids != sep)], minlength=len(vocab))
    np.testing.assert_array_equal(counts, expected)
    assert counts[cls] == counts[sep] == counts[0] == 0


def test_prior_is_centred_log_frequency():
    from bert_tf.training.output_bias import log_unigram_prior
    counts = np.array([0, 1, 3, 96])
    bias = log_unigram_prior(counts)
    assert abs(float(bias.mean())) < 1e-6
    probabilities = np.exp(bias) / np.exp(bias).sum()
    np.testing.assert_allclose(probabilities, (counts + 0.5) / (counts.sum() + 2.0), rtol=1e-6)


def test_a_wrong_vocab_is_named(made):
    from bert_tf.training.output_bias import count_target_pieces
    with pytest.raises(ValueError, match="outside the model's vocab of 1000"):
        count_target_pieces(os.path.join(made["static"], "*.tfrecord"), 1000)


def test_pretrain_starts_from_the_prior_and_a_resumed_run_keeps_its_bias(made, tmp_path, capsys):
    from bert_tf.training.output_bias import count_target_pieces, log_unigram_prior
    pattern = os.path.join(made["static"], "*.tfrecord")
    model_dir = str(tmp_path / "run")
    args = ["pretrain", "--config", "bert_tiny", "--input", pattern, "--model-dir", model_dir, "--train-batch-size",
            "8", "--steps-per-loop", "1", "--save-checkpoints-steps", "1", "--warmup-steps", "1", "--no-export",
            "--output-bias-prior"]
    # Learning rate 0: the step leaves every weight where it started, so the checkpoint shows the start.
    assert run_cli(*args, "--num-train-steps", "1", "--learning-rate", "0") == 0
    assert "output bias: log piece frequencies of" in capsys.readouterr().err

    def saved_bias():
        reader = tf.train.load_checkpoint(os.path.join(model_dir, "checkpoints"))
        name = next(n for n in reader.get_variable_to_shape_map() if "output_bias" in n and "OPTIMIZER" not in n)
        return reader.get_tensor(name)
    np.testing.assert_allclose(saved_bias(), log_unigram_prior(count_target_pieces(pattern, 30522)[0]), atol=1e-6)
    # Resuming restores the checkpoint's bias; nothing is recounted.
    assert run_cli(*args, "--num-train-steps", "3", "--learning-rate", "1e-3") == 0
    assert "output bias:" not in capsys.readouterr().err
    assert json.load(open(os.path.join(model_dir, "summary.json")))["step"] == 3
    assert not np.allclose(saved_bias(), log_unigram_prior(count_target_pieces(pattern, 30522)[0]), atol=1e-6)
