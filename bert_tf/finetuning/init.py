"""`--init`: an encoder and the tokenizer that goes with it, from any checkpoint `load_encoder` reads.

Also accepted: a `bert-tf pretrain` run directory (its `export/encoder`), and a fine-tuning run
directory (its best model's encoder). The vocab comes from the checkpoint folder, else `--vocab`;
the casing from a Hugging Face `tokenizer_config.json`, else from the vocab itself (a vocab with
capitalised pieces is cased).
"""

from __future__ import annotations

import json
import os

from bert_tf.finetuning.errors import FinetuneError


def resolve_init_path(path: str) -> str:
    for inner in (os.path.join(path, "export", "encoder"), os.path.join(path, "best")):
        if os.path.isdir(inner):
            return inner
    return path


def init_vocab_and_casing(path: str, vocab: str | None, lower_case: bool | None) -> tuple[str, bool]:
    from bert_tf.checkpoints.loading import read_checkpoint
    from bert_tf.tokenization.vocab import load_vocab, vocab_is_cased
    path = resolve_init_path(path)
    if not os.path.exists(path):
        read_checkpoint(path)  # a checkpoint prefix, or a clear "not found"
    # A folder holds its vocab; a checkpoint prefix (dir/bert_model.ckpt) has it beside it.
    folder = path if os.path.isdir(path) else os.path.dirname(path)
    found = os.path.join(folder, "vocab.txt")
    vocab = vocab or (found if os.path.isfile(found) else None)
    if vocab is None:
        fmt = read_checkpoint(path).format
        raise FinetuneError(f"--init {path} ({fmt} format) has no vocab.txt: pass --vocab")
    if lower_case is None:
        config = os.path.join(path, "tokenizer_config.json")
        if os.path.isfile(config):
            lower_case = json.load(open(config, encoding="utf-8")).get("do_lower_case")
        if lower_case is None:
            lower_case = not vocab_is_cased(load_vocab(vocab))
    return vocab, bool(lower_case)


def load_init_encoder(path: str, dtype=None):
    """The encoder at `path`; a fine-tuned model gives up its encoder."""
    from bert_tf.checkpoints.loading import load_encoder
    return load_encoder(resolve_init_path(path), dtype=dtype)
