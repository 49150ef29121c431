"""The original's normalisation compiled into tensorflow-text's FastBertNormalizer (`original_normalizer.py`).

The tokenizer's parity tests check the end result against google-research/bert; these check the
parts: the op, fed our darts-clone trie, writes exactly our table for every code point; the
characters sent to the exact path really get there; the sentinel never collides with the vocab;
and building the tables never starts TensorFlow's runtime in a process about to fork workers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text as tf_text

from bert_tf.tokenization import original_normalizer

CASINGS = [pytest.param(True, id="uncased"), pytest.param(False, id="cased")]
SENTINEL = original_normalizer.SENTINEL_CANDIDATES[0]


@pytest.mark.parametrize("lower_case", CASINGS)
def test_the_op_writes_our_table_for_every_code_point(lower_case):
    table = original_normalizer.character_table(lower_case, SENTINEL)
    normalizer = tf_text.FastBertNormalizer(model_buffer=original_normalizer.build_model(lower_case, SENTINEL))
    points = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF]
    got = normalizer.normalize(tf.constant([chr(cp) for cp in points])).numpy()
    wrong = [cp for cp, out in zip(points, got) if out.decode("utf-8") != table.get(cp, chr(cp))]
    assert not wrong, [f"U+{cp:04X}" for cp in wrong[:10]]
    # What the table holds is the original's, not ICU's: a few anchors.
    if lower_case:
        assert ord("…") not in table and ord("½") not in table  # ICU writes "...", "1⁄2"
        assert table[ord("É")] == "e" and table[ord("\u0301")] == "" and table[ord("\u03a3")] == SENTINEL
    assert table[0x200B] == "" and table[0x7F] == ""  # format and control characters are deleted


@pytest.mark.parametrize("lower_case", CASINGS)
def test_sentinel_characters_take_the_exact_path(lower_case, bert_tokenizer, original_tokenizer):
    """Every character the table cannot express, in contexts, equals the original."""
    table = original_normalizer.character_table(lower_case, SENTINEL)
    sent = [cp for cp, out in table.items() if out == SENTINEL]
    assert 10 < len(sent) < 200  # Σ (uncased) and the characters ICU splits but Python keeps in a word
    original = original_tokenizer(lower_case)
    texts = [t.replace("{}", chr(cp)) for cp in sent for t in ("a{}b", "{}", "\u0391{}\u03a3 x", "x {}{} y")]
    ours = bert_tokenizer(lower_case).tokenize(tf.constant(texts)).to_list()
    for text, mine in zip(texts, ours):
        assert mine == original.convert_tokens_to_ids(original.tokenize(text)), ascii(text)


def test_sentinel_avoids_the_vocab():
    assert original_normalizer.choose_sentinel(["[PAD]", "a"]) == "\uffff"
    assert original_normalizer.choose_sentinel(["[PAD]", "x\uffff"]) == "\ufffe"
    with pytest.raises(ValueError, match="every sentinel candidate"):
        original_normalizer.choose_sentinel(list(original_normalizer.SENTINEL_CANDIDATES))


def test_darts_clone_trie_rejects_keys_it_cannot_hold():
    with pytest.raises(ValueError, match="prefix-free"):
        original_normalizer.darts_clone_trie([b"ab", b"abc"], [1, 2])
    with pytest.raises(ValueError, match="prefix-free"):
        original_normalizer.darts_clone_trie([b"abc", b"ab"], [1, 2])
    with pytest.raises(ValueError, match="NUL-free"):
        original_normalizer.darts_clone_trie([b"a\x00"], [1])
    trie = original_normalizer.darts_clone_trie([b"ab", b"b"], [5, 7])
    assert trie.dtype == np.uint32 and len(trie) % 256 == 0


def test_precompute_leaves_the_process_safe_to_fork(tmp_path):
    """create-pretraining-data forks its workers from a parent that must not have started
    TensorFlow's runtime; the tables' one TensorFlow step runs in a child process instead."""
    script = textwrap.dedent("""
        import sys
        from bert_tf.tokenization import original_normalizer
        from pipelines.pretraining.local_workers import _safe_to_fork
        original_normalizer.precompute(False, ["[PAD]", "[UNK]", "a"])
        assert _safe_to_fork(), "TensorFlow's runtime started"
        assert (False, "\\uffff") in {k[1:] for k in original_normalizer._MEMO if k[0] == "model"}
        print("ok")
    """)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, BERT_TF_CACHE=str(tmp_path), TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=root)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=root,
                         timeout=300)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:]
    assert any(name.startswith("normalizer-classes") for name in os.listdir(tmp_path))
