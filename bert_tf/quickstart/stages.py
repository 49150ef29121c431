"""The quickstart's stages, in order, each one of our commands on shipped data:

1. `vocab`: learn an uncased WordPiece vocab from the shipped books (all but the last);
2. `pretraining_data`: MLM/NSP TFRecords from the training books and, separately, the held-out last book;
3. `pretrain`: a small BERT from scratch with MLM + NSP (resumes from its last checkpoint when killed);
4. `evaluate`: MLM and NSP loss and accuracy on the held-out book;
5. `finetune_pretrained` / `finetune_random`: an SST-2 sentiment classifier on 800 shipped rows, from the
   pretrained encoder and from a random one with the same budget, scored on 2,000 held-out rows;
6. `export`: the classifier as `SAVED_MODELS/quickstart_sst2/<v>` and the encoder as a TF Hub style pair;
7. `serve`: a fresh Python process that imports only tensorflow and tensorflow-text loads the export and
   classifies a few sentences;
8. `report`: `WORKDIR/report.md` with plots and the figures of every stage.

`WORKDIR/stages.json` records each finished stage (its seconds and figures): a rerun skips them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from importlib import resources
from typing import Callable

from bert_tf.atomic import write_text_atomic
from bert_tf.jsonl_log import read_rows


class QuickstartError(ValueError):
    """A workdir holding a quickstart with other settings."""


@dataclasses.dataclass
class QuickstartOptions:
    workdir: str = "runs/quickstart"
    saved_models: str = "saved_models"
    preset: str = "bert_tiny"
    steps: int = 500
    batch_size: int = 64
    learning_rate: float = 1e-3
    # Adam's epsilon for pretraining. The original's 1e-6 lets the tied output softmax give every rarely seen
    # piece a full-size normalised update toward one direction, collapsing the word embeddings; 1e-3 damps
    # that and is worth ~4 points of SST-2 accuracy after 500 steps (1e-4: ~2, 1e-2: MLM learns too slowly).
    adam_epsilon: float = 1e-3
    # The MLM output bias starts at the data's log piece frequencies (`bert-tf pretrain --output-bias-prior`): the
    # zero start lets the tied softmax collapse the word embeddings (effective rank 11 of 128 after 500 steps,
    # 76 with the prior); held-out MLM accuracy 0.096 -> 0.109 (benchmarks/RESULTS.md).
    output_bias_prior: bool = True
    vocab_size: int = 5000  # all the pieces 3 MB of books can give at the learner's count threshold
    finetune_epochs: int = 10  # 800 sentences: 4 epochs (100 steps) left both starts near the majority label
    finetune_learning_rate: float = 4e-4  # best of 1e-4, 2e-4, 4e-4 for both starts (1e-3 collapses both)
    seed: int = 0

    def path(self, *parts: str) -> str:
        return os.path.join(self.workdir, *parts)


SERVE_SCRIPT = r"""
import json, sys
import tensorflow as tf
import tensorflow_text  # the tokenizer's ops; nothing of bert_tf is imported here
model = tf.saved_model.load(sys.argv[1])
serve = model.signatures["serving_default"]
texts = json.loads(sys.argv[2])
out = serve(text=tf.constant(texts))
print(json.dumps([{"text": t, "label": l.decode(), "probabilities": p.tolist()}
                  for t, l, p in zip(texts, out["label"].numpy(), out["probabilities"].numpy())]))
"""
SERVE_TEXTS = ["a gorgeous , witty , seductive movie .", "the plot is a mess and the acting is worse .",
               "it 's a charming and often affecting journey ."]


def shipped(name: str) -> str:
    return str(resources.files("bert_tf").joinpath("data", name))


def _cli(*args: str) -> None:
    from bert_tf.cli import main
    status = main(list(args))
    if status != 0:
        raise RuntimeError(f"bert-tf {args[0]} failed (exit status {status})")


# ----------------------------------------------------------------------------------------------- stages
def stage_vocab(o: QuickstartOptions) -> dict:
    from bert_tf.tokenization import learn_vocab
    books = open(shipped("quickstart_books.txt"), encoding="utf-8").read().strip("\n").split("\n\n")
    os.makedirs(o.path("text"), exist_ok=True)
    write_text_atomic(o.path("text", "train_books.txt"), "\n\n".join(books[:-1]) + "\n")
    write_text_atomic(o.path("text", "heldout_book.txt"), books[-1] + "\n")
    tokens = learn_vocab(o.path("text", "train_books.txt"), o.vocab_size)
    write_text_atomic(o.path("vocab.txt"), "\n".join(tokens) + "\n")
    size = os.path.getsize(o.path("text", "train_books.txt"))
    return {"books": len(books) - 1, "heldout_books": 1, "corpus_mb": round(size / 1e6, 2), "vocab_size": len(tokens)}


def stage_pretraining_data(o: QuickstartOptions) -> dict:
    figures = {}
    for name, text, dupe in (("train", "train_books.txt", "2"), ("heldout", "heldout_book.txt", "1")):
        out = o.path("data", name)
        _cli("create-pretraining-data", "--input", o.path("text", text), "--vocab", o.path("vocab.txt"),
             "--output-dir", out, "--dupe-factor", dupe, "--num-workers", "2", "--random-seed", str(12345 + o.seed),
             "--overwrite")
        manifest = json.load(open(os.path.join(out, "manifest.json"), encoding="utf-8"))
        figures[f"{name}_instances"] = manifest["instances"]
    return figures


def _config_file(o: QuickstartOptions) -> str:
    from bert_tf.config import BertConfig
    vocab_size = sum(1 for _ in open(o.path("vocab.txt"), encoding="utf-8"))
    path = o.path("bert_config.json")
    BertConfig.from_preset(o.preset, vocab_size=vocab_size).to_json_file(path)
    return path


def stage_pretrain(o: QuickstartOptions) -> dict:
    _cli("pretrain", "--config", _config_file(o), "--input", o.path("data", "train", "*.tfrecord"), "--model-dir",
         o.path("pretrain"), "--train-batch-size", str(o.batch_size), "--num-train-steps", str(o.steps),
         "--learning-rate", str(o.learning_rate), "--warmup-steps", str(max(1, o.steps // 10)),
         "--adam-bias-correction", "--adam-epsilon", str(o.adam_epsilon),
         *(["--output-bias-prior"] if o.output_bias_prior else []),
         "--steps-per-loop", str(max(1, min(50, o.steps // 10))),
         "--save-checkpoints-steps", str(max(1, min(100, o.steps // 5))), "--seed", str(12345 + o.seed))
    records = read_rows(o.path("pretrain", "metrics.jsonl"))
    return {"steps": records[-1]["step"], "final_loss": records[-1]["loss"],
            "final_train_mlm_accuracy": records[-1]["mlm_accuracy"],
            "sequences_per_second": round(sorted(r["examples_per_second"] for r in records)[len(records) // 2], 1)}


def stage_evaluate(o: QuickstartOptions) -> dict:
    from bert_tf.training.pretrain import evaluate_run
    instances = json.load(open(o.path("data", "heldout", "manifest.json"), encoding="utf-8"))["instances"]
    figures = evaluate_run(o.path("pretrain"), o.path("data", "heldout", "*.tfrecord"),
                           eval_steps=max(1, instances // 64), batch_size=64)
    return {k: round(float(v), 4) for k, v in figures.items() if k != "step"}


def _sst2_files(o: QuickstartOptions) -> tuple[str, str]:
    """800 training rows; 2,000 held-out rows: the sample's other 200 plus 1,800 shipped for evaluation only.

    Why 2,000: on 200 sentences the 95% interval of an accuracy near 0.65 is +-6.6 points, wider than any
    difference a few minutes of pretraining can make, so "pretrained vs random" would be a coin toss.
    """
    lines = open(shipped("sst2_sample_1000.tsv"), encoding="utf-8").read().splitlines()
    extra = open(shipped("sst2_heldout_extra_1800.tsv"), encoding="utf-8").read().splitlines()[1:]
    train, heldout = o.path("text", "sst2_train.tsv"), o.path("text", "sst2_heldout.tsv")
    write_text_atomic(train, "\n".join(lines[:801]) + "\n")
    write_text_atomic(heldout, "\n".join([lines[0]] + lines[801:] + extra) + "\n")
    return train, heldout


def _finetune(o: QuickstartOptions, init: str, out: str) -> dict:
    train, heldout = _sst2_files(o)
    _cli("finetune", "--task", "classify", "--glue", "sst2", "--init", init, "--train", train, "--eval", heldout,
         "--output-dir", out, "--max-seq-length", "64", "--epochs", str(o.finetune_epochs), "--batch-size", "32",
         "--learning-rate", str(o.finetune_learning_rate), "--eval-every-steps", "25", "--seed", str(o.seed),
         "--overwrite")
    summary = json.load(open(os.path.join(out, "train_summary.json"), encoding="utf-8"))
    return {"best_accuracy": summary["best"]["accuracy"], "final_accuracy": summary["last_eval"]["accuracy"],
            "heldout_examples": summary["last_eval"]["examples"],
            "examples_per_second": summary["train_examples_per_second"], "steps": summary["steps"]}


def stage_finetune_pretrained(o: QuickstartOptions) -> dict:
    return _finetune(o, o.path("pretrain"), o.path("finetune_pretrained"))


def stage_finetune_random(o: QuickstartOptions) -> dict:
    import keras

    from bert_tf.checkpoints import save_native
    from bert_tf.config import BertConfig
    from bert_tf.models import BertEncoder
    keras.utils.set_random_seed(o.seed)
    init = o.path("random_init")
    save_native(BertEncoder.from_bert_config(BertConfig.from_json_file(o.path("bert_config.json"))), init,
                vocab_file=o.path("vocab.txt"), source="random initialisation", overwrite=True)
    return _finetune(o, init, o.path("finetune_random"))


def stage_export(o: QuickstartOptions) -> dict:
    from bert_tf.export.exporter import export_run
    from bert_tf.export.hub import export_hub_pair
    classifier = export_run(o.path("finetune_pretrained"), os.path.join(o.saved_models, "quickstart_sst2"))
    preprocess, encoder = export_hub_pair(o.path("pretrain"), os.path.join(o.saved_models, f"quickstart_{o.preset}"))

    def size(path):
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)
    return {"classifier": classifier, "preprocess": preprocess, "encoder": encoder,
            "classifier_mb": round(size(classifier) / 1e6, 1), "encoder_mb": round(size(encoder) / 1e6, 1)}


def stage_serve(o: QuickstartOptions, state: dict) -> dict:
    path = state["export"]["figures"]["classifier"]
    proc = subprocess.run([sys.executable, "-c", SERVE_SCRIPT, path, json.dumps(SERVE_TEXTS)], capture_output=True,
                          text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, cwd="/")
    if proc.returncode != 0:
        raise RuntimeError(f"the fresh process could not serve {path}:\n{proc.stderr[-2000:]}")
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    for r in results:
        print(f"  {r['label']}  p={max(r['probabilities']):.2f}  {r['text']}")
    return {"predictions": results}


def stage_report(o: QuickstartOptions, state: dict) -> dict:
    from bert_tf.quickstart.report import write_report
    return {"report": write_report(o, state)}


STAGES: list[tuple[str, str, Callable]] = [
    ("vocab", "learn a WordPiece vocab", stage_vocab),
    ("pretraining_data", "write MLM/NSP pretraining TFRecords", stage_pretraining_data),
    ("pretrain", "pretrain with MLM + NSP", stage_pretrain),
    ("evaluate", "evaluate MLM/NSP on the held-out book", stage_evaluate),
    ("finetune_pretrained", "fine-tune SST-2 from the pretrained encoder", stage_finetune_pretrained),
    ("finetune_random", "fine-tune SST-2 from a random encoder (same budget)", stage_finetune_random),
    ("export", "export the classifier and the TF Hub style encoder pair", stage_export),
    ("serve", "classify from the export in a fresh tensorflow + tensorflow-text process", stage_serve),
    ("report", "write the report", stage_report),
]


def run_quickstart(o: QuickstartOptions, log=print) -> dict:
    os.makedirs(o.workdir, exist_ok=True)
    state_file = o.path("stages.json")
    state = json.load(open(state_file, encoding="utf-8")) if os.path.isfile(state_file) else {}
    settings = {k: v for k, v in dataclasses.asdict(o).items() if k not in ("workdir", "saved_models")}
    if state.get("_settings", settings) != settings:
        raise QuickstartError(f"{o.workdir} holds a quickstart with other settings ({state['_settings']}); use another "
                         f"--workdir or delete it")
    state["_settings"] = settings
    total = time.time()
    for number, (name, title, fn) in enumerate(STAGES, 1):
        if name in state and name != "report":
            log(f"[{number}/{len(STAGES)}] {title}: done already ({state[name]['seconds']:.0f} s), skipped")
            continue
        log(f"[{number}/{len(STAGES)}] {title} ...")
        start = time.time()
        figures = fn(o, state) if name in ("serve", "report") else fn(o)
        state[name] = {"seconds": round(time.time() - start, 1), "figures": figures}
        write_text_atomic(state_file, json.dumps(state, indent=2) + "\n")
        shown = ", ".join(f"{k} {v}" for k, v in figures.items() if isinstance(v, (int, float)))
        log(f"[{number}/{len(STAGES)}] {title}: {state[name]['seconds']:.0f} s{'; ' + shown if shown else ''}")
    state["_total_seconds_this_run"] = round(time.time() - total, 1)
    write_text_atomic(state_file, json.dumps(state, indent=2) + "\n")
    return state
