"""Open a fine-tuning run directory: its options, tokenizer, task and best model, for evaluate/predict/export."""

from __future__ import annotations

import dataclasses
import json
import os

from bert_tf.finetuning.errors import FinetuneError
from bert_tf.finetuning.options import FinetuneOptions


@dataclasses.dataclass
class FinetunedRun:
    path: str
    options: FinetuneOptions
    meta: dict
    tokenizer: object
    model: object
    task: object


def load_finetuned(run_dir: str, **overrides) -> FinetunedRun:
    from bert_tf.checkpoints.native import load_keras_model
    from bert_tf.finetuning.run import RUN_FILE, make_task
    from bert_tf.tokenization import BertTokenizer
    info = os.path.join(run_dir, RUN_FILE)
    best = os.path.join(run_dir, "best")
    if not os.path.isfile(info):
        raise FinetuneError(f"{run_dir} is not a fine-tuning run directory (no {RUN_FILE})")
    if not os.path.isdir(best):
        raise FinetuneError(f"{run_dir} has no best/ model yet (the run has not finished an evaluation)")
    saved = json.load(open(info, encoding="utf-8"))
    options = FinetuneOptions.from_dict({**saved["options"], **{k: v for k, v in overrides.items() if v is not None}})
    meta = saved["meta"]
    tokenizer = BertTokenizer(os.path.join(run_dir, "vocab.txt"), lower_case=meta["lower_case"])
    model = load_keras_model(best)
    return FinetunedRun(run_dir, options, meta, tokenizer, model, make_task(options, tokenizer, meta))
