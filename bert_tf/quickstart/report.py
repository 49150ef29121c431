"""`WORKDIR/report.md`: what the quickstart did, its figures, two plots, and the commands to redo each stage."""

from __future__ import annotations

import math
import os

from bert_tf.atomic import write_text_atomic
from bert_tf.jsonl_log import read_rows


def compare_accuracies(pretrained: float, random: float, examples: int) -> str:
    """One sentence on pretrained vs random held-out accuracy, with a 95% interval on the difference.

    Why an interval: a quickstart's few minutes of pretraining move held-out accuracy by a few points, about
    the sampling noise of the split, so the report says "beats" or "is behind" only when the interval
    (normal approximation for two independent proportions, which is conservative for our paired runs) leaves
    out zero, and otherwise that the two cannot be told apart.
    """
    diff = pretrained - random
    half = 1.96 * math.sqrt((pretrained * (1 - pretrained) + random * (1 - random)) / max(1, examples))
    verdict = ("beats" if diff - half > 0 else "is behind" if diff + half < 0 else "cannot be told apart from")
    return (f"Fine-tuned from the pretrained encoder, the classifier {verdict} the one fine-tuned from a random "
            f"encoder with the same budget: {100 * pretrained:.1f}% vs {100 * random:.1f}% held-out accuracy at "
            f"the last evaluation, a difference of {100 * diff:+.1f} points (95% interval {100 * (diff - half):+.1f} "
            f"to {100 * (diff + half):+.1f}, {examples} sentences).")


def _plots(o, pretrain_records: list[dict], curves: dict[str, list[dict]]) -> tuple[str, str]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    steps = [r["step"] for r in pretrain_records]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.plot(steps, [r["loss"] for r in pretrain_records], label="total (MLM + NSP)")
    left.plot(steps, [r["mlm_loss"] for r in pretrain_records], label="MLM")
    left.plot(steps, [r["nsp_loss"] for r in pretrain_records], label="NSP")
    left.set(title=f"{o.preset} pretraining loss", xlabel="step", ylabel="cross-entropy")
    left.legend()
    right.plot(steps, [r["mlm_accuracy"] for r in pretrain_records], label="MLM accuracy")
    right.plot(steps, [r["nsp_accuracy"] for r in pretrain_records], label="NSP accuracy")
    right.set(title="pretraining accuracy (training batches)", xlabel="step", ylabel="accuracy", ylim=(0, 1))
    right.legend()
    fig.tight_layout()
    pretrain_png = os.path.join(o.workdir, "pretraining.png")
    fig.savefig(pretrain_png, dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, label in (("finetune_pretrained", "from the pretrained encoder"),
                        ("finetune_random", "from a random encoder")):
        history = curves[name]
        ax.plot([h["step"] for h in history], [h["accuracy"] for h in history], "o-", ms=3, label=label)
    labels = [l.rsplit("\t", 1)[-1] for l in open(os.path.join(o.workdir, "text", "sst2_heldout.tsv"),
                                                 encoding="utf-8").read().splitlines()[1:]]
    majority = max(labels.count(x) for x in set(labels)) / len(labels)
    ax.axhline(majority, color="grey", lw=0.8, ls="--", label=f"always the majority label ({majority:.2f})")
    ax.set(title="SST-2 sentiment: held-out accuracy while fine-tuning", xlabel="fine-tuning step",
           ylabel=f"held-out accuracy ({len(labels):,} sentences)")
    ax.legend()
    fig.tight_layout()
    finetune_png = os.path.join(o.workdir, "finetuning.png")
    fig.savefig(finetune_png, dpi=110)
    plt.close(fig)
    return pretrain_png, finetune_png


def write_report(o, state: dict) -> str:
    pretrain_records = read_rows(os.path.join(o.workdir, "pretrain", "metrics.jsonl"))  # one row a step, resumed or not
    curves = {n: read_rows(os.path.join(o.workdir, n, "eval_history.jsonl"))
              for n in ("finetune_pretrained", "finetune_random")}
    _plots(o, pretrain_records, curves)
    f = {name: state[name]["figures"] for name in state if not name.startswith("_") and name != "report"}
    secs = {name: state[name]["seconds"] for name in state if not name.startswith("_") and name != "report"}
    pre, rnd = f["finetune_pretrained"], f["finetune_random"]
    ex = f["export"]
    w = o.workdir
    lines = [
        "# bert-tf quickstart report", "",
        f"A `{o.preset}` BERT learned from {f['vocab']['books']} public-domain books ({f['vocab']['corpus_mb']} MB), "
        f"evaluated on a held-out book, fine-tuned for sentiment (SST-2, 800 sentences) and exported for TF Serving.",
        "",
        "| stage | seconds | figures |", "|---|---:|---|",
        f"| vocab | {secs['vocab']:.0f} | {f['vocab']['vocab_size']} WordPiece pieces, uncased |",
        f"| pretraining data | {secs['pretraining_data']:.0f} | {f['pretraining_data']['train_instances']} training "
        f"and {f['pretraining_data']['heldout_instances']} held-out sequences of 128 tokens |",
        f"| pretrain | {secs['pretrain']:.0f} | {f['pretrain']['steps']} steps of {o.batch_size}, "
        f"{f['pretrain']['sequences_per_second']} sequences/s, final loss {f['pretrain']['final_loss']:.3f} |",
        f"| evaluate (held-out book) | {secs['evaluate']:.0f} | MLM accuracy {f['evaluate']['mlm_accuracy']:.3f}, "
        f"NSP accuracy {f['evaluate']['nsp_accuracy']:.3f}, MLM loss {f['evaluate']['mlm_loss']:.3f} |",
        f"| fine-tune from pretrained | {secs['finetune_pretrained']:.0f} | held-out accuracy "
        f"{pre['best_accuracy']:.3f} (best), {pre['final_accuracy']:.3f} (last); {pre['examples_per_second']} "
        f"examples/s |",
        f"| fine-tune from random | {secs['finetune_random']:.0f} | held-out accuracy {rnd['best_accuracy']:.3f} "
        f"(best), {rnd['final_accuracy']:.3f} (last) |",
        f"| export | {secs['export']:.0f} | classifier {ex['classifier_mb']} MB, encoder {ex['encoder_mb']} MB |",
        f"| serve (fresh process) | {secs['serve']:.0f} | " + "; ".join(
            f"{p['label']} ({max(p['probabilities']):.2f}) \"{p['text']}\"" for p in f["serve"]["predictions"]) + " |",
        "",
        compare_accuracies(pre["final_accuracy"], rnd["final_accuracy"], pre.get("heldout_examples", 200)) + " "
        "(\"best\" in the table is the best of the periodic evaluations on the same held-out rows, so it flatters "
        "both runs; the last evaluation is the unselected figure.)",
        *([] if pre["final_accuracy"] > rnd["final_accuracy"] else [
            "", "Minutes of pretraining on a laptop CPU teach a BERT little (see the MLM accuracy above), and what it "
            "learns first (which pieces are frequent, which words share contexts) holds no sentiment a linear probe "
            "can read yet, so the 800 labelled sentences teach both starts the same; "
            "`benchmarks/RESULTS.md` (\"Quickstart: does a few minutes of pretraining help?\") has longer runs and "
            "in-domain text. Pass `--steps` and `--preset` for a longer run, or fine-tune from a released checkpoint "
            "(`bert-tf finetune --init PATH`)."]),
        "", "![pretraining](pretraining.png)", "", "![fine-tuning](finetuning.png)", "",
        "## Where things are", "",
        f"- `{w}/vocab.txt`, `{w}/data/train`, `{w}/data/heldout` (TFRecords + manifest.json)",
        f"- `{w}/pretrain` (checkpoints, metrics.jsonl, TensorBoard logs in `logs/`, `export/encoder`, "
        f"`export/google`)",
        f"- `{w}/finetune_pretrained`, `{w}/finetune_random` (best model, eval_results.json, eval_history.jsonl)",
        f"- `{ex['classifier']}` (TF Serving layout), `{ex['preprocess']}` and `{ex['encoder']}` (TF Hub style pair)",
        "", "## Each stage by hand, with your data", "", "```bash",
        f"bert-tf vocab --input 'my_corpus/*.txt' --vocab-size {o.vocab_size} --output vocab.txt",
        "bert-tf create-pretraining-data --input 'my_corpus/*.txt' --vocab vocab.txt --output-dir data/train "
        "--dupe-factor 5 --num-workers 4",
        f"bert-tf pretrain --config {o.preset} --input 'data/train/*.tfrecord' --model-dir runs/pretrain "
        f"--train-batch-size {o.batch_size} --num-train-steps {o.steps} --learning-rate {o.learning_rate} "
        f"--warmup-steps {max(1, o.steps // 10)} --adam-bias-correction --adam-epsilon {o.adam_epsilon}"
        f"{' --output-bias-prior' if o.output_bias_prior else ''}"
        "   # --config takes a bert_config.json too",
        "bert-tf evaluate-pretraining --model-dir runs/pretrain --input 'data/heldout/*.tfrecord'",
        "bert-tf finetune --task classify --glue sst2 --init runs/pretrain --train train.tsv --eval dev.tsv "
        f"--output-dir runs/sst2 --max-seq-length 64 --epochs {o.finetune_epochs} "
        f"--learning-rate {o.finetune_learning_rate}",
        "bert-tf export --model-dir runs/sst2 --output saved_models/sst2",
        "bert-tf export-hub --checkpoint runs/pretrain --output saved_models/my_bert",
        "bert-tf predict --saved-model saved_models/sst2 --text \"a fine film\"",
        "```", "",
    ]
    path = os.path.join(o.workdir, "report.md")
    write_text_atomic(path, "\n".join(lines))
    return path
