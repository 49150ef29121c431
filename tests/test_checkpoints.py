"""Checkpoint import/export: round trips, skipped slots, and every bad input with a clear error."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from bert_tf import BertEncoder, CheckpointError, ConfigError, load_encoder, load_pretrainer
from bert_tf.checkpoints import (original_weights, read_checkpoint, read_google_checkpoint,
                                 read_hf_checkpoint, save_native, write_google_checkpoint)
from bert_tf.checkpoints.huggingface import hf_name_to_original
from bert_tf.cli import main


@pytest.fixture(scope="module")
def google_minilm(minilm_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("g") / "minilm_google"
    assert main(["convert", "--from", minilm_dir, "--to", str(out), "--to-format", "google"]) == 0
    return str(out)


def test_hf_names_map_to_original_names():
    assert hf_name_to_original("bert.encoder.layer.11.attention.self.query.weight") == (
        "bert/encoder/layer_11/attention/self/query/kernel", True)
    assert hf_name_to_original("encoder.layer.0.output.LayerNorm.weight") == (
        "bert/encoder/layer_0/output/LayerNorm/gamma", False)
    assert hf_name_to_original("embeddings.word_embeddings.weight") == ("bert/embeddings/word_embeddings", False)
    assert hf_name_to_original("cls.predictions.transform.dense.weight") == (
        "cls/predictions/transform/dense/kernel", True)
    assert hf_name_to_original("cls.predictions.bias") == ("cls/predictions/output_bias", False)
    assert hf_name_to_original("cls.seq_relationship.weight") == ("cls/seq_relationship/output_weights", False)
    assert hf_name_to_original("embeddings.position_ids") is None
    assert hf_name_to_original("cls.predictions.decoder.weight") is None  # tied to the word embeddings


def test_google_bert_tf_google_round_trip_is_bit_identical(minilm_dir, google_minilm, tmp_path):
    _, hf_weights, _ = read_hf_checkpoint(minilm_dir)
    _, google_weights, vocab = read_google_checkpoint(google_minilm)
    assert sorted(hf_weights) == sorted(google_weights) and len(google_weights) == 103
    for name in hf_weights:
        np.testing.assert_array_equal(hf_weights[name], google_weights[name])
    assert main(["convert", "--from", google_minilm, "--to", str(tmp_path / "ours")]) == 0
    assert sorted(os.listdir(tmp_path / "ours")) == ["bert_config.json", "bert_tf.json", "model.keras", "vocab.txt"]
    assert main(["convert", "--from", str(tmp_path / "ours"), "--to", str(tmp_path / "back"),
                 "--to-format", "google"]) == 0
    _, back, _ = read_google_checkpoint(str(tmp_path / "back"))
    assert sorted(back) == sorted(google_weights)
    for name in back:
        np.testing.assert_array_equal(back[name], google_weights[name])
    assert open(tmp_path / "back" / "vocab.txt", "rb").read() == open(vocab, "rb").read()


def test_keras_file_and_native_folder_load(tmp_path):
    encoder = BertEncoder.from_preset("bert_tiny", vocab_size=300)
    encoder.save(tmp_path / "enc.keras")
    assert isinstance(load_encoder(str(tmp_path / "enc.keras")), BertEncoder)
    save_native(encoder, str(tmp_path / "native"))
    loaded = load_encoder(str(tmp_path / "native"))
    for a, b in zip(encoder.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(CheckpointError, match="not a pretrainer"):
        load_pretrainer(str(tmp_path / "native"))


def test_missing_checkpoint_folder():
    with pytest.raises(CheckpointError, match="checkpoint not found: /no/such/bert does not exist"):
        load_encoder("/no/such/bert")


def test_folder_without_a_checkpoint(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(CheckpointError, match=r"not a checkpoint folder we can read.*found notes.txt"):
        load_encoder(str(tmp_path))


def test_vocab_size_disagreeing_with_vocab_txt(google_minilm, tmp_path):
    broken = tmp_path / "broken"
    os.makedirs(broken)
    for name in os.listdir(google_minilm):
        data = open(os.path.join(google_minilm, name), "rb").read()
        if name == "vocab.txt":
            data = b"\n".join(data.split(b"\n")[:30000]) + b"\n"
        (broken / name).write_bytes(data)
    with pytest.raises(ConfigError, match=r"vocab_size in the config is 30522 but .*vocab.txt has 30000 lines"):
        load_encoder(str(broken))


def _copy_with_config(src: str, dst, **changes) -> str:
    os.makedirs(dst)
    for name in os.listdir(src):
        data = open(os.path.join(src, name), "rb").read()
        if name == "bert_config.json":
            config = json.loads(data)
            config.update(changes)
            data = json.dumps(config).encode()
        (dst / name).write_bytes(data)
    return str(dst)


def test_checkpoint_of_a_different_depth(google_minilm, tmp_path):
    folder = _copy_with_config(google_minilm, tmp_path / "four_layers", num_hidden_layers=4)
    with pytest.raises(CheckpointError) as err:
        load_encoder(folder)
    message = str(err.value)
    assert "32 checkpoint variable(s) match nothing in the model" in message
    assert "bert/encoder/layer_4/attention/output/dense/kernel (384, 384)" in message
    assert "... (12 more)" in message


def test_checkpoint_of_a_different_width(google_minilm, tmp_path):
    folder = _copy_with_config(google_minilm, tmp_path / "wide", intermediate_size=3072)
    with pytest.raises(CheckpointError) as err:
        load_encoder(folder)
    message = str(err.value)
    assert "18 shape mismatch(es)" in message  # intermediate kernel and bias, output kernel; 6 layers
    assert "bert/encoder/layer_0/intermediate/dense/kernel (384, 1536) (model expects (384, 3072))" in message


def test_encoder_only_checkpoint_has_no_pretraining_heads(minilm_dir):
    with pytest.raises(CheckpointError, match="has no pretraining heads"):
        load_pretrainer(minilm_dir)


def test_torch_pickle_only_folder_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x02")
    with pytest.raises(CheckpointError, match="has no model.safetensors"):
        load_encoder(str(tmp_path))


def test_other_model_types_are_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "roberta"}))
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match="model_type is 'roberta'"):
        load_encoder(str(tmp_path))


def test_writers_never_leave_half_written_output(tmp_path):
    encoder = BertEncoder.from_preset("bert_tiny", vocab_size=300)
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("".join(f"w{i}\n" for i in range(299)))  # one line short: the write must fail
    with pytest.raises(ConfigError):
        write_google_checkpoint(str(tmp_path / "out"), encoder.bert_config, original_weights(encoder),
                                vocab_file=str(vocab))
    with pytest.raises(ConfigError):
        save_native(encoder, str(tmp_path / "out2"), vocab_file=str(vocab))
    assert sorted(os.listdir(tmp_path)) == ["vocab.txt"]  # no output, no temporary folder
    (tmp_path / "exists").mkdir()
    with pytest.raises(FileExistsError, match="already exists"):
        save_native(encoder, str(tmp_path / "exists"))


def test_read_checkpoint_reports_format(minilm_dir, google_minilm):
    assert read_checkpoint(minilm_dir).format == "huggingface"
    ckpt = read_checkpoint(google_minilm)
    assert ckpt.format == "google" and not ckpt.has_pretraining_heads
    assert read_checkpoint(os.path.join(google_minilm, "bert_model.ckpt")).format == "google"  # a prefix


def test_cli_errors_are_one_clear_line(capsys, google_minilm, tmp_path):
    assert main(["convert", "--from", "/no/such/bert", "--to", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["bert-tf convert: error: checkpoint not found: /no/such/bert does not exist"]
    (tmp_path / "taken").mkdir()
    assert main(["convert", "--from", google_minilm, "--to", str(tmp_path / "taken")]) == 2
    assert "already exists" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "x")
