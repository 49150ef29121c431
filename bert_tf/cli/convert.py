"""`bert-tf convert`: move a checkpoint between formats, and prove the copy computes the same thing."""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def add_parser(sub) -> None:
    p = sub.add_parser("convert", help="convert a Google / Hugging Face / bert-tf checkpoint",
                       description="Read a checkpoint (Google BERT folder, Hugging Face folder with "
                                   "model.safetensors, bert-tf folder or .keras file) and write it as a "
                                   "bert-tf folder or, with --to-format google, in the original format.")
    p.add_argument("--from", dest="source", required=True, help="checkpoint folder, prefix or .keras file")
    p.add_argument("--to", dest="target", required=True, help="output folder (must not exist)")
    p.add_argument("--to-format", choices=("bert_tf", "google"), default="bert_tf")
    p.add_argument("--model", choices=("auto", "encoder", "pretrainer"), default="auto",
                   help="what to convert: auto = the pretraining heads too when the source has them")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.set_defaults(func=run)


def _probe_inputs(config, batch: int = 2, seq: int = 16):
    rng = np.random.default_rng(0)
    ids = rng.integers(1, config.vocab_size, (batch, seq)).astype("int32")
    mask = np.ones_like(ids)
    mask[1, seq // 2:] = 0
    types = np.zeros_like(ids)
    types[:, seq // 4:] = 1
    return {"input_word_ids": ids, "input_mask": mask, "input_type_ids": types,
            "masked_lm_positions": np.tile(np.arange(1, 4, dtype="int32"), (batch, 1))}


def max_output_difference(a, b) -> float:
    """Largest absolute difference between the outputs of two models on the same probe batch."""
    inputs = _probe_inputs(a.bert_config)
    feed = lambda m: inputs if hasattr(m, "masked_lm") else {k: v for k, v in inputs.items()
                                                             if k != "masked_lm_positions"}
    out_a, out_b = a(feed(a), training=False), b(feed(b), training=False)
    keys = [k for k in ("sequence_output", "pooled_output", "mlm_logits", "nsp_logits") if k in out_a]
    return max(float(np.max(np.abs(np.asarray(out_a[k]) - np.asarray(out_b[k])))) for k in keys)


def run(args: argparse.Namespace) -> int:
    from bert_tf.checkpoints import (load_encoder, load_pretrainer, original_weights, read_checkpoint,
                                     save_native, write_google_checkpoint)
    start = time.time()
    target = os.path.abspath(args.target)
    if os.path.exists(target) and not args.overwrite:
        raise FileExistsError(f"{target} already exists; choose a new folder or pass --overwrite")
    print(f"[1/3] reading {args.source}", flush=True)
    ckpt = read_checkpoint(args.source)
    kind = args.model
    if kind == "auto":
        kind = "pretrainer" if ckpt.has_pretraining_heads else "encoder"
    model = (load_pretrainer if kind == "pretrainer" else load_encoder)(args.source)
    cfg = model.bert_config
    print(f"      {ckpt.format} format, {kind}: L={cfg.num_hidden_layers} H={cfg.hidden_size} "
          f"A={cfg.num_attention_heads} vocab={cfg.vocab_size}, {model.count_params():,} parameters", flush=True)
    print(f"[2/3] writing {args.to_format} format to {target}", flush=True)
    if args.to_format == "google":
        weights = original_weights(model)
        write_google_checkpoint(target, cfg, weights, vocab_file=ckpt.vocab_file, overwrite=args.overwrite)
        written = f"{len(weights)} variables"
    else:
        save_native(model, target, vocab_file=ckpt.vocab_file, source=os.path.abspath(args.source),
                    overwrite=args.overwrite)
        written = "model.keras"
    print("[3/3] verifying: reloading the output and comparing outputs on a probe batch", flush=True)
    reloaded = (load_pretrainer if kind == "pretrainer" else load_encoder)(target)
    diff = max_output_difference(model, reloaded)
    status = "identical" if diff == 0.0 else f"max abs difference {diff:.2e}"
    print(f"done in {time.time() - start:.1f}s: {ckpt.format} -> {args.to_format} ({written}"
          f"{', vocab.txt' if ckpt.vocab_file else ', no vocab.txt in the source'}); outputs {status}")
    return 0 if diff <= 1e-5 else 1
