"""`bert-tf pretrain` (train or resume a BERT on pretraining TFRecords) and `bert-tf evaluate-pretraining`."""

from __future__ import annotations

import argparse
import dataclasses
import sys


def add_parser(sub) -> None:
    p = sub.add_parser("pretrain", help="pretrain (or resume) a BERT with MLM + NSP on pretraining TFRecords",
                       description="The custom tf.distribute loop: one device, mirrored GPUs, multi-worker "
                                   "(TF_CONFIG) or TPU; AdamW/LAMB with warmup and linear decay; checkpoints "
                                   "that resume; metrics.jsonl and TensorBoard logs in --model-dir.")
    p.add_argument("--config", required=True, help="a preset (bert_tiny ... bert_large) or a bert_config.json")
    p.add_argument("--input", required=True, help="pretraining TFRecords (glob, comma-separated)")
    p.add_argument("--model-dir", required=True)
    p.add_argument("--train-batch-size", type=int, default=32, help="global batch per optimizer step")
    p.add_argument("--num-train-steps", type=int, default=1000)
    p.add_argument("--learning-rate", type=float, default=1e-4)
    p.add_argument("--warmup-steps", type=int, default=100)
    p.add_argument("--optimizer", choices=("adamw", "lamb"), default="adamw")
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--adam-bias-correction", action="store_true",
                   help="Adam's bias-corrected moments (the Model Garden's, Hugging Face's); the original has none, "
                        "which makes early steps several times larger: use this for high learning rates")
    p.add_argument("--adam-epsilon", type=float, default=1e-6,
                   help="Adam's epsilon (default: the original's 1e-6). Short runs on small corpora do better with "
                        "1e-3: it damps the normalised updates that the tied output softmax gives every rarely seen "
                        "piece, which otherwise pull the word embeddings toward one direction")
    p.add_argument("--output-bias-prior", action="store_true",
                   help="start the MLM output bias at the log frequency of each piece in --input (the original "
                        "starts it at zero). Keeps the tied output softmax from pulling every rarely seen piece's "
                        "embedding the same way early on; short runs from scratch learn better with it")
    p.add_argument("--max-grad-norm", type=float, default=1.0)
    p.add_argument("--gradient-accumulation-steps", type=int, default=1)
    p.add_argument("--mixed-precision", default="float32", choices=("float32", "mixed_bfloat16", "mixed_float16"))
    p.add_argument("--jit-compile", action=argparse.BooleanOptionalAction, default=False)
    p.add_argument("--steps-per-loop", type=int, default=100)
    p.add_argument("--save-checkpoints-steps", type=int, default=1000)
    p.add_argument("--keep-checkpoints", type=int, default=5)
    p.add_argument("--eval-input")
    p.add_argument("--eval-steps", type=int, default=100)
    p.add_argument("--init-checkpoint", help="start from an encoder checkpoint (anything `load_encoder` reads)")
    p.add_argument("--strategy", default="auto", choices=("auto", "one_device", "mirrored", "multi_worker", "tpu"))
    p.add_argument("--tpu", help="TPU name or address (or 'local' on a TPU VM)")
    p.add_argument("--max-seq-length", type=int, default=128)
    p.add_argument("--max-predictions-per-seq", type=int, default=20)
    p.add_argument("--seed", type=int, default=12345)
    p.add_argument("--no-export", dest="export", action="store_false", help="skip the encoder export at the end")
    phase2 = p.add_argument_group("a second phase (after --num-train-steps), usually with longer sequences")
    phase2.add_argument("--phase2-input")
    phase2.add_argument("--phase2-steps", type=int, default=0)
    phase2.add_argument("--phase2-max-seq-length", type=int, default=512)
    phase2.add_argument("--phase2-max-predictions-per-seq", type=int, default=80)
    phase2.add_argument("--phase2-train-batch-size", type=int)
    phase2.add_argument("--phase2-learning-rate", type=float)
    phase2.add_argument("--phase2-warmup-steps", type=int)
    p.set_defaults(func=run)

    e = sub.add_parser("evaluate-pretraining", help="MLM/NSP loss and accuracy of a pretraining run on held-out files")
    e.add_argument("--model-dir", required=True)
    e.add_argument("--input", required=True)
    e.add_argument("--eval-steps", type=int, default=100)
    e.add_argument("--batch-size", type=int, default=32)
    e.add_argument("--max-seq-length", type=int, default=128)
    e.add_argument("--max-predictions-per-seq", type=int, default=20)
    e.set_defaults(func=run_evaluate)


def run(args: argparse.Namespace) -> int:
    from bert_tf.training.pretrain import PretrainOptions, run_pretraining
    fields = {f.name for f in dataclasses.fields(PretrainOptions)}
    options = PretrainOptions(**{k: v for k, v in vars(args).items() if k in fields})
    summary = run_pretraining(options)
    print("final: " + "  ".join(f"{k} {v}" for k, v in summary.items()))
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from bert_tf.training.pretrain import evaluate_run
    figures = evaluate_run(args.model_dir, args.input, args.eval_steps, args.batch_size, args.max_seq_length,
                           args.max_predictions_per_seq)
    print("  ".join(f"{k} {v:.4f}" for k, v in figures.items()))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use `bert-tf pretrain`")
