"""`bert-tf finetune`, `bert-tf evaluate` and `bert-tf predict`: fine-tune a task model, score it, use it."""

from __future__ import annotations

import argparse
import json
import sys


def add_parser(sub) -> None:
    p = sub.add_parser("finetune", help="fine-tune a classifier, regressor, SQuAD span model or tagger",
                       description="Fine-tune from any checkpoint load_encoder reads (bert-tf, Google, Hugging Face, "
                                   "a pretrain run dir). Evaluates after every epoch (and every --eval-every-steps), "
                                   "keeps the best model in OUTPUT_DIR/best, writes eval_results.json and "
                                   "eval_history.jsonl.")
    p.add_argument("--task", required=True, choices=("classify", "regress", "squad", "tag"))
    p.add_argument("--init", required=True, help="checkpoint folder (bert-tf, Google BERT, Hugging Face) or run dir")
    p.add_argument("--train", help="training file (TSV/CSV/JSONL table, SQuAD JSON, CoNLL text)")
    p.add_argument("--eval", help="evaluation file (same format)")
    p.add_argument("--eval-fraction", type=float, default=0.0,
                   help="without --eval: hold out this share of --train (seeded) for evaluation")
    p.add_argument("--output-dir", required=True)
    data = p.add_argument_group("tables (classify / regress)")
    data.add_argument("--glue", help="a GLUE task (sst2 cola mrpc qqp stsb mnli qnli rte): its columns and metrics")
    data.add_argument("--tfds", help="a locally prepared TFDS dataset, e.g. glue/sst2 (train / validation splits)")
    data.add_argument("--tfds-data-dir")
    data.add_argument("--text-column", help="name (needs a header) or 0-based index")
    data.add_argument("--text-b-column", help="second text of a pair")
    data.add_argument("--label-column")
    data.add_argument("--no-header", dest="header", action="store_false", help="the table has no header row")
    data.add_argument("--labels", help="comma-separated label list (default: the sorted labels of --train)")
    data.add_argument("--train-limit", type=int, help="use the first N training rows")
    model = p.add_argument_group("model and training")
    model.add_argument("--vocab", help="vocab.txt when --init has none")
    case = model.add_mutually_exclusive_group()
    case.add_argument("--lower-case", dest="lower_case", action="store_true", default=None)
    case.add_argument("--cased", dest="lower_case", action="store_false")
    model.add_argument("--max-seq-length", type=int, default=128)
    model.add_argument("--batch-size", type=int, default=32)
    model.add_argument("--eval-batch-size", type=int)
    model.add_argument("--epochs", type=float, default=3.0)
    model.add_argument("--learning-rate", type=float, default=5e-5)
    model.add_argument("--warmup-proportion", type=float, default=0.1)
    model.add_argument("--weight-decay", type=float, default=0.01)
    model.add_argument("--max-grad-norm", type=float, default=1.0)
    model.add_argument("--adam-bias-correction", action="store_true")
    model.add_argument("--dropout", type=float, default=0.1)
    model.add_argument("--seed", type=int, default=0)
    model.add_argument("--strategy", default="auto", choices=("auto", "one_device", "mirrored", "multi_worker", "tpu"))
    model.add_argument("--tpu")
    model.add_argument("--mixed-precision", default="float32", choices=("float32", "mixed_bfloat16", "mixed_float16"))
    model.add_argument("--jit-compile", action=argparse.BooleanOptionalAction, default=False)
    model.add_argument("--no-bucket", dest="bucket", action="store_false",
                       help="pad every batch to --max-seq-length instead of bucketing by length")
    model.add_argument("--eval-every-steps", type=int)
    model.add_argument("--overwrite", action="store_true", help="replace a different run in --output-dir")
    squad = p.add_argument_group("SQuAD")
    squad.add_argument("--doc-stride", type=int, default=128)
    squad.add_argument("--max-query-length", type=int, default=64)
    squad.add_argument("--max-answer-length", type=int, default=30)
    squad.add_argument("--n-best-size", type=int, default=20)
    squad.add_argument("--null-score-diff-threshold", type=float, default=0.0)
    squad.add_argument("--version-2", dest="version_2", action="store_true", default=None,
                       help="SQuAD 2.0 (default: when the data has is_impossible questions)")
    p.set_defaults(func=run)

    e = sub.add_parser("evaluate", help="score a fine-tuned run on a labelled file (JSON out)")
    e.add_argument("run_dir")
    e.add_argument("--eval", help="file to score (default: the run's --eval)")
    e.set_defaults(func=run_evaluate)

    q = sub.add_parser("predict", help="predictions of a fine-tuned run or an exported SavedModel (JSON lines out)")
    q.add_argument("run_dir", nargs="?", help="a finetune output directory")
    q.add_argument("--saved-model", help="an exported SavedModel (BASE or BASE/VERSION) instead of a run directory; "
                                         "loaded with tensorflow and tensorflow-text only")
    q.add_argument("--input", help="a file in the task's format (labels not needed)")
    q.add_argument("--text", action="append", help="a text (repeatable); for SQuAD the context")
    q.add_argument("--text-b", action="append", help="second text of a pair; for SQuAD the question")
    q.add_argument("--output", help="write JSON lines here instead of stdout")
    q.set_defaults(func=run_predict)


def run(args: argparse.Namespace) -> int:
    from bert_tf.finetuning import FinetuneOptions, run_finetuning
    values = {k: v for k, v in vars(args).items() if k not in ("func", "command")}
    if values.get("labels"):
        values["labels"] = [l.strip() for l in values["labels"].split(",")]
    summary = run_finetuning(FinetuneOptions.from_dict(values))
    best = summary["best"] or {}
    shown = ", ".join(f"{k} {v:.4f}" for k, v in best.items()
                      if isinstance(v, float) and k not in ("epoch", "eval_seconds", "train_loss"))
    print(f"done: {summary['steps']} steps in {summary['wall_seconds']:.0f} s "
          f"({summary['train_examples_per_second']} examples/s); best {summary['primary_metric']}: "
          f"{shown or 'n/a (no evaluation data)'}; model in {summary['output_dir']}/best")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from bert_tf.finetuning.load import load_finetuned
    run_ = load_finetuned(args.run_dir)
    path = args.eval or run_.options.eval
    if not path:
        print("bert-tf evaluate: error: give --eval FILE (the run had no evaluation file)", file=sys.stderr)
        return 2
    results = run_.task.evaluate_file(run_.model, path)
    print(json.dumps(results, indent=2))
    return 0


def run_predict(args: argparse.Namespace) -> int:
    if bool(args.input) == bool(args.text):
        print("bert-tf predict: error: give --input FILE or --text (not both)", file=sys.stderr)
        return 2
    if bool(args.run_dir) == bool(args.saved_model):
        print("bert-tf predict: error: give a run directory or --saved-model (one of them)", file=sys.stderr)
        return 2
    if args.saved_model:
        from bert_tf.export.saved_model_predict import predict_saved_model
        texts = args.text or [l.rstrip("\n") for l in open(args.input, encoding="utf-8") if l.strip()]
        records = predict_saved_model(args.saved_model, texts, args.text_b)
    else:
        from bert_tf.finetuning.load import load_finetuned
        run_ = load_finetuned(args.run_dir)
        records = (run_.task.predict_file(run_.model, args.input) if args.input
                   else run_.task.predict_texts(run_.model, args.text, args.text_b))
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    for record in records:
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
    if args.output:
        out.close()
        print(f"{len(records)} predictions written to {args.output}", file=sys.stderr)
    return 0
