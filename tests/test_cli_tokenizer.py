"""`bert-tf tokenize` and `bert-tf vocab` as a user runs them: output, files, errors."""

from __future__ import annotations

import gzip

from bert_tf.cli import main


def test_tokenize_prints_pieces_ids_and_packed_inputs(capsys, minilm_vocab):
    assert main(["tokenize", "--vocab", minilm_vocab, "Héllo, WORLD!", "--pair", "Second one",
                 "--seq-length", "12"]) == 0
    out = capsys.readouterr().out
    assert "pieces: hello , world !" in out
    assert "ids:    7592 1010 2088 999" in out
    assert "input_word_ids  101 7592 1010 2088 999 102 2117 2028 102 0 0 0" in out
    assert "input_type_ids  0 0 0 0 0 0 1 1 1 0 0 0" in out


def test_tokenize_warns_on_casing_mismatch(capsys, minilm_vocab):
    assert main(["tokenize", "--vocab", minilm_vocab, "--cased", "Hello"]) == 0
    captured = capsys.readouterr()
    assert "warning:" in captured.err and "looks uncased" in captured.err
    assert "pieces: [UNK]" in captured.out


def test_tokenize_bad_vocab_is_one_clear_error(capsys, tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("[PAD]\nhello\n", encoding="utf-8")
    assert main(["tokenize", "--vocab", str(vocab), "hello"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bert-tf tokenize: error:") and "missing special token" in err and str(vocab) in err


def test_vocab_learns_from_gzip_and_refuses_to_overwrite(capsys, tmp_path, tokenizer_lines):
    corpus = tmp_path / "corpus.txt.gz"
    with gzip.open(corpus, "wt", encoding="utf-8") as f:
        f.write("\n".join(tokenizer_lines[:600]) + "\n")
    output = tmp_path / "vocab.txt"
    args = ["vocab", "--input", str(corpus), "--vocab-size", "250", "--output", str(output)]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "counting words" in captured.err and "learning:" in captured.err
    assert f"wrote {output}: 250 tokens (uncased)" in captured.out and "[UNK] rate" in captured.out
    tokens = output.read_text(encoding="utf-8").split("\n")
    assert tokens[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] and len(tokens) == 251
    assert main(args) == 2
    assert "already exists" in capsys.readouterr().err


def test_vocab_non_utf8_input_is_named(capsys, tmp_path):
    corpus = tmp_path / "latin1.txt"
    corpus.write_bytes("fine\ncaf\xe9\n".encode("latin-1"))
    assert main(["vocab", "--input", str(corpus), "--vocab-size", "200", "--output", str(tmp_path / "v.txt")]) == 2
    err = capsys.readouterr().err
    assert f"{corpus}: line 2, byte offset 8: not valid UTF-8" in err
    assert not (tmp_path / "v.txt").exists()
