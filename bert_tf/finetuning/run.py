"""`bert-tf finetune`: read and check the data, build the task model on the `--init` encoder, train
with `model.fit` (the recipe: AdamW with decay exclusions, warmup then linear decay, clipping),
evaluate as it goes, keep the best model.

The output directory holds `finetune.json` (the options and what prediction needs: task, labels,
casing, lengths), `vocab.txt`, `best/` (the best model so far, a bert-tf folder `load_encoder` and
the export read), `eval_results.json` + `eval_history.jsonl`, and `train_summary.json` at the end.
A run killed mid-way is resumed by the same command from its last finished epoch
(`keras.callbacks.BackupAndRestore`); a directory holding a different run is refused unless
`--overwrite`.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time

from bert_tf.atomic import write_text_atomic
from bert_tf.finetuning.errors import FinetuneError
from bert_tf.finetuning.options import FinetuneOptions

RUN_FILE = "finetune.json"
_NOT_COMPARED = ("overwrite", "eval_every_steps")


def make_task(options: FinetuneOptions, tokenizer, meta: dict | None = None):
    if options.task in ("classify", "regress"):
        from bert_tf.finetuning.sentence_task import SentenceTask
        return SentenceTask(options, tokenizer, meta)
    if options.task == "tag":
        from bert_tf.finetuning.tagging_task import TaggingTask
        return TaggingTask(options, tokenizer, meta)
    from bert_tf.finetuning.squad_task import SquadTask
    return SquadTask(options, tokenizer, meta)


def _prepare_output_dir(options: FinetuneOptions) -> bool:
    """True when resuming the same run; refuses another run's directory unless --overwrite."""
    path = os.path.join(options.output_dir, RUN_FILE)
    if not os.path.isfile(path):
        return False
    saved = json.load(open(path, encoding="utf-8"))["options"]
    wanted = options.to_dict()
    differs = sorted(k for k in wanted if k not in _NOT_COMPARED and saved.get(k) != wanted[k])
    if not differs and os.path.isfile(os.path.join(options.output_dir, "train_summary.json")) and not options.overwrite:
        raise FinetuneError(f"{options.output_dir} already holds this finished run; pass --overwrite to train again")
    if differs and not options.overwrite:
        raise FinetuneError(f"{options.output_dir} holds a different fine-tuning run (differs in "
                            f"{', '.join('--' + k.replace('_', '-') for k in differs)}); choose another "
                            f"--output-dir or pass --overwrite")
    if options.overwrite:
        shutil.rmtree(options.output_dir)
        return False
    return True


def run_finetuning(options: FinetuneOptions, log=print) -> dict:
    """Train, evaluate and keep the best model; returns the summary written to `train_summary.json`."""
    import keras

    from bert_tf.finetuning.init import init_vocab_and_casing
    from bert_tf.tokenization import BertTokenizer

    if options.train is None and not options.tfds:
        raise FinetuneError("give --train FILE (or --tfds NAME)")
    resuming = _prepare_output_dir(options)
    vocab, lower_case = init_vocab_and_casing(options.init, options.vocab, options.lower_case)
    tokenizer = BertTokenizer(vocab, lower_case=lower_case)
    task = make_task(options, tokenizer)
    task.load_data()  # every input checked before anything is written
    keras.utils.set_random_seed(options.seed)
    train_data, steps_per_pass, train_examples = task.train_batches()
    total_steps = max(1, math.ceil(options.epochs * steps_per_pass))
    fit_epochs = max(1, math.ceil(options.epochs))
    steps_per_epoch = math.ceil(total_steps / fit_epochs)
    total_steps = steps_per_epoch * fit_epochs
    warmup = int(options.warmup_proportion * total_steps)

    os.makedirs(options.output_dir, exist_ok=True)
    run_vocab = os.path.join(options.output_dir, "vocab.txt")
    if not resuming:
        shutil.copyfile(vocab, run_vocab)
        meta = dict(task.meta, task=options.task, lower_case=lower_case, vocab_size=tokenizer.vocab_size,
                    primary_metric=task.primary, metrics=list(task.metric_names), init=os.path.abspath(options.init),
                    train_examples=train_examples,
                    eval_examples=len(task.eval_table) if task.eval_table is not None else 0)
        write_text_atomic(os.path.join(options.output_dir, RUN_FILE),
                          json.dumps({"options": options.to_dict(), "meta": meta}, indent=2) + "\n")

    previous_policy = keras.mixed_precision.dtype_policy()
    if options.mixed_precision != "float32":
        keras.mixed_precision.set_dtype_policy(options.mixed_precision)
    try:
        return _train(options, task, tokenizer, vocab, run_vocab, resuming, train_data, steps_per_epoch, fit_epochs,
                      total_steps, warmup, train_examples, log)
    finally:
        keras.mixed_precision.set_dtype_policy(previous_policy)  # a run does not change the caller's policy


def _train(options, task, tokenizer, vocab, run_vocab, resuming, train_data, steps_per_epoch, fit_epochs,
           total_steps, warmup, train_examples, log) -> dict:
    import keras

    from bert_tf.finetuning.callbacks import EvaluateAndKeepBest
    from bert_tf.finetuning.init import load_init_encoder
    from bert_tf.training.optimization import create_optimizer
    from bert_tf.training.strategy import make_strategy

    strategy = make_strategy(options.strategy, options.tpu)
    with strategy.scope():
        encoder = load_init_encoder(options.init, dtype=options.mixed_precision
                                    if options.mixed_precision != "float32" else None)
        if tokenizer.vocab_size > encoder.bert_config.vocab_size:
            raise FinetuneError(f"the vocab ({vocab}) has {tokenizer.vocab_size} pieces but the model's "
                                f"vocab_size is {encoder.bert_config.vocab_size}: they do not belong together")
        model = task.build_model(encoder)
        optimizer = create_optimizer("adamw", options.learning_rate, total_steps, warmup,
                                     weight_decay=options.weight_decay, max_grad_norm=options.max_grad_norm,
                                     bias_correction=options.adam_bias_correction)
        loss, loss_weights = task.loss()
        model.compile(optimizer=optimizer, loss=loss, loss_weights=loss_weights, jit_compile=options.jit_compile)

    log(f"fine-tuning {options.task}{' (' + options.glue + ')' if options.glue else ''}: "
        f"{train_examples} training examples, "
        f"{len(task.eval_table) if task.eval_table is not None else 0} evaluation examples; {total_steps} steps "
        f"of {options.batch_size} ({options.epochs:g} epochs), warmup {warmup}; strategy "
        f"{type(strategy).__name__}, {options.mixed_precision}{', XLA' if options.jit_compile else ''}"
        f"{'; resuming' if resuming else ''}")
    evaluator = EvaluateAndKeepBest(task, options.output_dir, run_vocab, steps_per_epoch, options.eval_every_steps)
    backup = keras.callbacks.BackupAndRestore(os.path.join(options.output_dir, "backup"), delete_checkpoint=True)
    start = time.time()
    history = model.fit(train_data, epochs=fit_epochs, steps_per_epoch=steps_per_epoch,
                        callbacks=[backup, evaluator], verbose=1 if sys.stdout.isatty() else 2)
    wall = time.time() - start
    if task.eval_table is None:
        evaluator.save_best(None)  # nothing to choose by: the last model is the one kept
    best_file = os.path.join(options.output_dir, "best", "eval_results.json")
    best = json.load(open(best_file, encoding="utf-8")) if os.path.isfile(best_file) else None
    epochs_run = len(history.history.get("loss", []))
    summary = {"task": options.task, "glue": options.glue, "steps": total_steps,
               "train_examples": train_examples, "epochs": options.epochs,
               "wall_seconds": round(wall, 1),
               "train_examples_per_second": round(train_examples * options.epochs / wall, 2) if epochs_run else None,
               "final_train_loss": history.history["loss"][-1] if epochs_run else None,
               "primary_metric": task.primary, "best": best, "last_eval": evaluator.last_results,
               "output_dir": os.path.abspath(options.output_dir)}
    write_text_atomic(os.path.join(options.output_dir, "train_summary.json"), json.dumps(summary, indent=2) + "\n")
    return summary
