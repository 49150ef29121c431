"""Evaluate during `model.fit`, log every evaluation, and keep the best model by the task's metric.

After each evaluation: `OUTPUT_DIR/eval_results.json` (the latest: metric name to value, `step`,
`epoch`), a line appended to `OUTPUT_DIR/eval_history.jsonl`, and, when the primary metric beats
the best so far, the model saved to `OUTPUT_DIR/best` (a bert-tf folder, written whole or not at all)
with that evaluation in `best/eval_results.json`.
"""

from __future__ import annotations

import json
import math
import os
import time

import keras

from bert_tf import jsonl_log
from bert_tf.atomic import write_text_atomic


class EvaluateAndKeepBest(keras.callbacks.Callback):
    def __init__(self, task, output_dir: str, vocab_file: str, steps_per_epoch: int,
                 every_steps: int | None = None, initial_step: int = 0):
        super().__init__()
        self.task, self.output_dir, self.vocab_file = task, output_dir, vocab_file
        self.steps_per_epoch, self.every_steps = steps_per_epoch, every_steps
        self.step = initial_step
        self.best = self._previous_best()
        self.last_results: dict | None = None

    def _previous_best(self) -> float:
        path = os.path.join(self.output_dir, "best", "eval_results.json")
        if os.path.isfile(path):
            return json.load(open(path, encoding="utf-8")).get(self.task.primary, -math.inf)
        return -math.inf

    def on_train_begin(self, logs=None):
        # Runs after BackupAndRestore (listed first) has restored a killed run: evaluations logged after
        # its last backup are of weights that no longer exist, and are made again.
        self.step = int(self.model.optimizer.iterations.numpy())
        jsonl_log.drop_rows_after_step(os.path.join(self.output_dir, "eval_history.jsonl"), self.step)

    def on_train_batch_end(self, batch, logs=None):
        # The optimizer's step, not a count of calls: a resumed run (BackupAndRestore) goes on from it.
        self.step = int(self.model.optimizer.iterations.numpy())
        if self.every_steps and self.step % self.every_steps == 0 and self.step % self.steps_per_epoch:
            self.evaluate()

    def on_epoch_end(self, epoch, logs=None):
        self.evaluate(train_loss=(logs or {}).get("loss"))

    def evaluate(self, train_loss: float | None = None) -> dict | None:
        if self.task.eval_table is None:
            return None
        start = time.time()
        results = self.task.evaluate(self.model)
        results.update(step=self.step, epoch=round(self.step / self.steps_per_epoch, 4),
                       eval_seconds=round(time.time() - start, 2))
        if train_loss is not None:
            results["train_loss"] = float(train_loss)
        write_text_atomic(os.path.join(self.output_dir, "eval_results.json"), json.dumps(results, indent=2) + "\n")
        jsonl_log.append_row(os.path.join(self.output_dir, "eval_history.jsonl"), results)
        value = results[self.task.primary]
        improved = value > self.best
        if improved:
            self.best = value
            self.save_best(results)
        shown = ", ".join(f"{k} {v:.4f}" for k, v in results.items()
                          if isinstance(v, float) and k not in ("epoch", "eval_seconds", "train_loss"))
        print(f"\nevaluation at step {self.step} (epoch {results['epoch']:g}): {shown}"
              f"{'  [best so far, saved]' if improved else ''}", flush=True)
        self.last_results = results
        return results

    def save_best(self, results: dict | None) -> None:
        from bert_tf.checkpoints.native import save_native
        best = os.path.join(self.output_dir, "best")
        save_native(self.model, best, vocab_file=self.vocab_file, source="bert-tf finetune", overwrite=True)
        if results is not None:
            write_text_atomic(os.path.join(best, "eval_results.json"), json.dumps(results, indent=2) + "\n")
