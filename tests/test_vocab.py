"""Vocab files (validation, casing check), text input (gzip, UTF-8 errors) and vocab learning."""

from __future__ import annotations

import gzip
import os
import warnings

import pytest
import tensorflow as tf

from bert_tf.text_files import TextInputError, expand_inputs, iter_lines
from bert_tf.tokenization import (BertTokenizer, CasingMismatchWarning, VocabError, learn_vocab, load_vocab,
                                  vocab_is_cased)
from conftest import DATA, SHARED_DATA

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _write(path, text: str | bytes) -> str:
    mode = "wb" if isinstance(text, bytes) else "w"
    with open(path, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as f:
        f.write(text)
    return str(path)


@pytest.mark.parametrize("content, message", [
    ("", "the vocab is empty"),
    ("[PAD]\n[UNK]\nhello\n", r"missing special token\(s\) \[CLS\], \[SEP\], \[MASK\]"),
    ("\n".join(SPECIALS + ["a", "b", "a"]) + "\n", r"token 'a' appears twice \(lines 6 and 8\)"),
    ("\n".join(SPECIALS + ["a", "", "b"]) + "\n", "line 7 is empty"),
])
def test_bad_vocab_files(tmp_path, content, message):
    path = _write(tmp_path / "vocab.txt", content)
    with pytest.raises(VocabError, match=message) as err:
        BertTokenizer(path)
    assert path in str(err.value)


def test_vocab_not_utf8_and_missing(tmp_path):
    path = _write(tmp_path / "vocab.txt", ("\n".join(SPECIALS) + "\n").encode() + b"caf\xe9\n")
    with pytest.raises(VocabError, match=r"line 6 \(byte 34\) is not UTF-8"):
        load_vocab(path)
    with pytest.raises(FileNotFoundError, match="vocab file not found"):
        load_vocab(tmp_path / "missing.txt")


def test_vocab_lines_are_stripped_like_the_original(tmp_path):
    path = _write(tmp_path / "vocab.txt", "\r\n".join(SPECIALS + [" hello ", "world"]) + "\r\n")
    assert load_vocab(path)[-2:] == ["hello", "world"]


def test_casing_check(tmp_path, minilm_vocab):
    assert not vocab_is_cased(load_vocab(minilm_vocab))
    with pytest.warns(CasingMismatchWarning, match="looks uncased"):
        BertTokenizer(minilm_vocab, lower_case=False)
    cased = _write(tmp_path / "cased.txt", "\n".join(SPECIALS + ["Hello", "World", "the", "Paris", "##s"]) + "\n")
    assert vocab_is_cased(load_vocab(cased))
    with pytest.warns(CasingMismatchWarning, match="looks cased"):
        BertTokenizer(cased, lower_case=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CasingMismatchWarning)
        BertTokenizer(minilm_vocab, lower_case=True)
        BertTokenizer(cased, lower_case=False)


def test_text_files_gzip_bom_crlf(tmp_path):
    plain = _write(tmp_path / "a.txt", b"\xef\xbb\xbfFirst line\r\nSecond\r\n")
    packed = tmp_path / "b.data"  # gzip is found by its magic bytes, not its name
    with gzip.open(packed, "wb") as f:
        f.write("Third ünïcode\n\nFourth\n".encode())
    assert expand_inputs(str(tmp_path / "*")) == [plain, str(packed)]
    assert list(iter_lines(plain)) == ["First line", "Second"]
    assert list(iter_lines(str(packed))) == ["Third ünïcode", "", "Fourth"]
    with pytest.raises(FileNotFoundError, match="no input file matches"):
        expand_inputs(str(tmp_path / "nothing*.txt"))


@pytest.mark.parametrize("compress", [False, True])
def test_non_utf8_input_names_file_line_and_byte(tmp_path, compress):
    data = b"good line\nsecond good\nbad \xff byte\n"
    path = tmp_path / "corpus.txt"
    if compress:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    with pytest.raises(TextInputError, match=rf"{path}: line 3, byte offset 26: not valid UTF-8 \(byte 0xff\)"):
        list(iter_lines(str(path)))


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory, tokenizer_lines):
    """The Gutenberg part of the shipped slice, gzip-compressed: 540 lines to learn, 60 held out."""
    lines = tokenizer_lines[:600]
    folder = tmp_path_factory.mktemp("corpus")
    with gzip.open(folder / "books.txt.gz", "wt", encoding="utf-8") as f:
        f.write("\n".join(lines[:540]) + "\n")
    return str(folder / "*.gz"), lines[540:]


def test_learn_vocab_small(small_corpus, tmp_path):
    pattern, held_out = small_corpus
    messages: list[str] = []
    vocab = learn_vocab(pattern, 300, progress=messages.append)
    assert len(vocab) == 300 and len(set(vocab)) == 300
    assert vocab[:5] == SPECIALS
    assert any("counting words" in m for m in messages) and any("learning:" in m for m in messages)
    assert learn_vocab(pattern, 300) == vocab  # deterministic
    with pytest.warns(UserWarning, match="only supports"):
        learn_vocab(pattern, 5000)
    path = _write(tmp_path / "vocab.txt", "\n".join(vocab) + "\n")
    tok = BertTokenizer(path)
    ids = tok.tokenize(tf.constant(held_out)).flat_values
    unk_rate = float(tf.reduce_mean(tf.cast(ids == tok.unk_id, tf.float32)))
    assert unk_rate < 0.005
    assert float(tf.reduce_mean(tf.cast(ids > 4, tf.float32))) > 0.99  # real pieces, not specials


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir(SHARED_DATA), reason="needs ../shared/data")
def test_learn_vocab_on_gutenberg(tmp_path):
    corpus = os.path.join(SHARED_DATA, "gutenberg", "corpus.txt")
    with open(corpus, encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f]
    cut = int(len(lines) * 0.9)
    train = _write(tmp_path / "train.txt", "\n".join(lines[:cut]) + "\n")
    vocab = learn_vocab(train, 8000)
    assert abs(len(vocab) - 8000) <= 80
    assert learn_vocab(train, 8000) == vocab
    tok = BertTokenizer(_write(tmp_path / "vocab.txt", "\n".join(vocab) + "\n"))
    ids = tok.tokenize(tf.constant([line for line in lines[cut:] if line])).flat_values
    assert float(tf.reduce_mean(tf.cast(ids == tok.unk_id, tf.float32))) < 0.005
