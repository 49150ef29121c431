"""The tokenizer as TensorFlow ops: tf.data with AUTOTUNE, tf.function, SavedModel in a fresh process;
word structure and detokenize."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import tensorflow as tf


def test_tf_data_with_autotune_gives_the_eager_ids(bert_tokenizer, tokenizer_lines):
    tok = bert_tokenizer(True)
    eager = tok.tokenize(tf.constant(tokenizer_lines)).to_list()
    ds = (tf.data.Dataset.from_tensor_slices(tokenizer_lines).batch(37)
          .map(tok.tokenize, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True))
    from_data = [row for batch in ds for row in batch.to_list()]
    assert from_data == eager
    packed = (tf.data.Dataset.from_tensor_slices(tokenizer_lines).batch(64)
              .map(lambda x: tok.pack(x, seq_length=32), num_parallel_calls=tf.data.AUTOTUNE))
    first = next(iter(packed))
    assert first["input_word_ids"].shape == (64, 32)
    assert first["input_word_ids"].numpy()[0, 0] == tok.cls_id


def test_scalar_and_tf_function(bert_tokenizer):
    tok = bert_tokenizer(True)
    assert tok.tokenize(tf.constant("Hello, world!")).numpy().tolist() == [7592, 1010, 2088, 999]
    fn = tf.function(tok.tokenize, input_signature=[tf.TensorSpec([None], tf.string)])
    assert fn(tf.constant(["Ὀδυσσεύς …", "plain"])).to_list() == tok.tokenize(
        tf.constant(["Ὀδυσσεύς …", "plain"])).to_list()


def test_words_group_pieces_by_word(bert_tokenizer, original_tokenizer, tokenizer_lines):
    tok = bert_tokenizer(True)
    lines = tokenizer_lines[:200] + ["", "unaffable ΟΔΟΣ"]
    words = tok.tokenize(tf.constant(lines), words=True)
    assert words.ragged_rank == 2
    assert words.merge_dims(1, 2).to_list() == tok.tokenize(tf.constant(lines)).to_list()
    original = original_tokenizer(True)
    for line, row in zip(lines, words.to_list()):
        pieces = original.tokenize(line)
        expected, current = [], []
        for piece, piece_id in zip(pieces, original.convert_tokens_to_ids(pieces)):
            if not piece.startswith("##") and current:
                expected.append(current)
                current = []
            current.append(piece_id)
        if current:
            expected.append(current)
        assert row == expected, line


def test_detokenize(bert_tokenizer):
    tok = bert_tokenizer(True)
    text = tf.constant(["Unaffable people, Héllo!", ""])
    assert tok.detokenize(tok.tokenize(text)).numpy().tolist() == [b"unaffable people , hello !", b""]
    packed = tok.pack(text, seq_length=12)["input_word_ids"]
    assert tok.detokenize(packed).numpy()[0] == b"[CLS] unaffable people , hello ! [SEP]"


def test_saved_model_reloads_in_a_fresh_process(bert_tokenizer, tmp_path):
    tok = bert_tokenizer(True)
    module = tf.Module()
    module.tokenizer = tok
    module.tokenize = tf.function(lambda x: tok.tokenize(x).to_tensor(-1),
                                  input_signature=[tf.TensorSpec([None], tf.string)])
    module.pack = tf.function(lambda a, b: tok.pack(a, b, seq_length=24),
                              input_signature=[tf.TensorSpec([None], tf.string)] * 2)
    export = str(tmp_path / "tokenizer")
    tf.saved_model.save(module, export)
    assert os.path.isfile(os.path.join(export, "assets", "vocab.txt"))
    texts = ["Ὀδυσσεύς … ½ cup", "Hello, world!", "x" * 250, "日本語"]
    expected = tok.tokenize(tf.constant(texts)).to_tensor(-1).numpy()
    expected_pack = tok.pack(tf.constant(texts), tf.constant(texts[::-1]), seq_length=24)["input_word_ids"].numpy()
    np.save(tmp_path / "expected.npy", expected)
    np.save(tmp_path / "expected_pack.npy", expected_pack)
    script = textwrap.dedent(f"""
        import json, numpy as np, tensorflow as tf
        import tensorflow_text  # registers the ops the SavedModel uses
        m = tf.saved_model.load({export!r})
        texts = tf.constant({texts!r})
        assert (m.tokenize(texts).numpy() == np.load({str(tmp_path / 'expected.npy')!r})).all()
        packed = m.pack(texts, texts[::-1])["input_word_ids"].numpy()
        assert (packed == np.load({str(tmp_path / 'expected_pack.npy')!r})).all()
        print("ok")
    """)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]


def test_exact_false_is_raw_fast_bert(minilm_vocab, bert_tokenizer):
    from bert_tf.tokenization import BertTokenizer
    raw = BertTokenizer(minilm_vocab, exact=False)
    exact = bert_tokenizer(True)
    text = tf.constant(["wait… ½", "plain words"])
    assert raw.id_to_token(raw.tokenize(text)).to_list()[0] == [b"wait", b".", b".", b".", b"1", b"##\xe2\x81\x84",
                                                                b"##2"]
    assert exact.id_to_token(exact.tokenize(text)).to_list()[0] == [b"wait", b"\xe2\x80\xa6", b"\xc2\xbd"]
    assert raw.tokenize(text).to_list()[1] == exact.tokenize(text).to_list()[1]
    assert exact.token_to_id("[MASK]") == exact.mask_id == 103
