"""The multi-worker recipes' local equivalent: two `bert-tf pretrain --strategy multi_worker` workers on
loopback, each under the restart loop; one is SIGKILLed mid-run, the cluster fails over to the last
checkpoint and both workers finish at the same step with identical weights."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import DATA, run_cli

SLICE = os.path.join(DATA, "gutenberg_books_slice.txt")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_supervise_restarts_a_failing_command_and_stops_on_usage_errors(tmp_path):
    from pipelines.recipes.supervise import supervise
    counter = tmp_path / "runs"
    flaky = [sys.executable, "-c", f"import pathlib,sys; p=pathlib.Path({str(counter)!r}); n=len(p.read_text()) "
             f"if p.exists() else 0; p.write_text('x'*(n+1)); sys.exit(0 if n >= 2 else 1)"]
    messages = []
    assert supervise(flaky, max_restarts=5, delay_s=0, log=messages.append) == 0
    assert counter.read_text() == "xxx" and sum("restart" in m and "of 5" in m for m in messages) == 2

    counter.unlink()
    assert supervise(flaky, max_restarts=1, delay_s=0, log=messages.append) == 1  # gives up
    assert "gave up after 1 restart(s)" in messages[-1]

    messages.clear()
    usage_error = [sys.executable, "-c", "import sys; sys.exit(2)"]
    assert supervise(usage_error, max_restarts=5, delay_s=0, log=messages.append) == 2
    assert len(messages) == 1 and "not restarting" in messages[0]


def _worker_processes(root) -> dict[int, "object"]:
    import psutil
    found = {}
    for child in root.children(recursive=True):
        try:
            config = child.environ().get("TF_CONFIG")
            if config and "bert_tf.cli" in " ".join(child.cmdline()):
                found[json.loads(config)["task"]["index"]] = child
        except psutil.Error:
            continue
    return found


def test_two_loopback_workers_survive_a_killed_worker(tmp_path, minilm_vocab):
    import psutil
    data = str(tmp_path / "data")
    assert run_cli("create-pretraining-data", "--input", SLICE, "--vocab", minilm_vocab, "--output-dir", data,
                   "--dupe-factor", "1", "--num-shards", "2", "--block-mb", "0.25", "--max-seq-length", "64",
                   "--max-predictions-per-seq", "10") == 0
    model_dir = str(tmp_path / "run")
    command = [sys.executable, "-m", "pipelines.recipes.local_cluster", "--workers", "2", "--delay", "1", "--",
               sys.executable, "-m", "bert_tf.cli", "pretrain", "--strategy", "multi_worker", "--config", "bert_tiny",
               "--input", os.path.join(data, "*.tfrecord"), "--model-dir", model_dir, "--train-batch-size", "16",
               "--num-train-steps", "40", "--steps-per-loop", "2", "--save-checkpoints-steps", "10",
               "--warmup-steps", "2", "--learning-rate", "5e-4", "--no-export", "--max-seq-length", "64",
               "--max-predictions-per-seq", "10"]
    log = open(tmp_path / "cluster.log", "w+")
    cluster = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                               env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    root = psutil.Process(cluster.pid)
    first_checkpoint = os.path.join(model_dir, "checkpoints", "ckpt-10.index")
    deadline = time.time() + 600
    while not os.path.exists(first_checkpoint) and cluster.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    workers = _worker_processes(root)
    assert set(workers) == {0, 1}, "both workers should be running after the first checkpoint"
    workers[1].send_signal(signal.SIGKILL)
    assert cluster.wait(timeout=600) == 0
    log.seek(0)
    text = log.read()
    assert "[supervise worker-1] killed by signal 9" in text
    assert "[supervise worker-0] exit status" in text  # the survivor fails its next collective and restarts
    assert text.count("resumed from") >= 2 and "[local cluster] all workers finished" in text

    chief = json.load(open(os.path.join(model_dir, "summary.json")))
    other = json.load(open(os.path.join(model_dir, "workers", "worker-1", "summary.json")))
    assert chief["step"] == other["step"] == 40
    assert chief["weights_sha256"] == other["weights_sha256"]
    assert os.path.exists(os.path.join(model_dir, "checkpoints", "ckpt-40.index"))
    steps = [json.loads(line)["step"] for line in open(os.path.join(model_dir, "metrics.jsonl"))]
    resumed_at = int(text.split("resumed from")[1].split("at step")[1].split()[0])
    assert resumed_at >= 10 and resumed_at % 10 == 0 and steps[-1] == 40
