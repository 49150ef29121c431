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
    assert text.count("resumed from") >= 2 and "[local cluster] all workers finished in" in text
    assert "s, 2 restart(s)" in text

    chief = json.load(open(os.path.join(model_dir, "summary.json")))
    other = json.load(open(os.path.join(model_dir, "workers", "worker-1", "summary.json")))
    assert chief["step"] == other["step"] == 40
    assert chief["weights_sha256"] == other["weights_sha256"]
    assert os.path.exists(os.path.join(model_dir, "checkpoints", "ckpt-40.index"))
    steps = [json.loads(line)["step"] for line in open(os.path.join(model_dir, "metrics.jsonl"))]
    resumed_at = int(text.split("resumed from")[1].split("at step")[1].split()[0])
    assert resumed_at >= 10 and resumed_at % 10 == 0 and steps[-1] == 40
    assert steps == sorted(set(steps)), "rows past the checkpoint the cluster resumed from must not appear twice"


# --------------------------------------------------------------------------- the cluster recipes' scripts
RECIPES = os.path.join(ROOT, "pipelines", "recipes")


def _bash(script: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", os.path.join(RECIPES, script), *args], capture_output=True, text=True,
                          env=dict(os.environ, **env))


def test_gpu_cluster_worker_script_builds_the_local_clusters_tf_config():
    from pipelines.recipes.local_cluster import tf_config
    done = _bash("gpu_cluster/run_worker.sh", "--config", "bert_tiny", "--input", "gs://b/d/*.tfrecord", DRY_RUN="1",
                 WORKER_HOSTS="gpu-a:2222,gpu-b:2222", WORKER_INDEX="1")
    assert done.returncode == 0, done.stderr
    config_line, command = done.stdout.splitlines()
    assert json.loads(config_line.split("=", 1)[1]) == json.loads(tf_config(["gpu-a:2222", "gpu-b:2222"], 1))
    assert "-m pipelines.recipes.supervise" in command and "pretrain --strategy multi_worker --config bert_tiny" in command
    bad = _bash("gpu_cluster/run_worker.sh", WORKER_HOSTS="gpu-a:2222", WORKER_INDEX="1")
    assert bad.returncode == 2 and "not a position in WORKER_HOSTS" in bad.stderr
    assert _bash("gpu_cluster/run_worker.sh").returncode != 0  # no WORKER_HOSTS: refused


def test_kubernetes_job_gives_each_pod_its_tf_config(tmp_path):
    yaml = pytest.importorskip("yaml")
    service, job = yaml.safe_load_all(open(os.path.join(RECIPES, "kubernetes", "pretrain-job.yaml")))
    spec = job["spec"]
    container = spec["template"]["spec"]["containers"][0]
    workers = int(next(e["value"] for e in container["env"] if e["name"] == "WORKERS"))
    assert spec["completionMode"] == "Indexed" and spec["completions"] == spec["parallelism"] == workers
    assert spec["template"]["spec"]["subdomain"] == service["metadata"]["name"] and service["spec"]["clusterIP"] == "None"
    assert spec["template"]["spec"]["restartPolicy"] == "OnFailure"
    # Run the container's script with a stand-in `bert-tf` that prints what it was given.
    fake = tmp_path / "bin" / "bert-tf"
    fake.parent.mkdir()
    fake.write_text('#!/usr/bin/env bash\necho "$TF_CONFIG"\necho "$@"\n')
    fake.chmod(0o755)
    done = subprocess.run(["bash", "-c", container["args"][0]], capture_output=True, text=True,
                          env=dict(os.environ, PATH=f"{fake.parent}:{os.environ['PATH']}", WORKERS=str(workers),
                                   JOB_COMPLETION_INDEX="1"))
    assert done.returncode == 0, done.stderr
    config = json.loads(done.stdout.splitlines()[-2])
    assert config == {"cluster": {"worker": [f"bert-tf-pretrain-{i}.bert-tf-workers:2222" for i in range(workers)]},
                      "task": {"type": "worker", "index": 1}}
    assert done.stdout.splitlines()[-1].startswith("pretrain --strategy multi_worker")


def test_tpu_pod_and_dataflow_scripts_print_real_commands():
    env = dict(DRY_RUN="1", TPU_NAME="bert-pod", ZONE="us-central2-b", BUCKET="gs://bkt", RUN="r1")
    for script in ("tpu_pod/launch_pod_slice.sh", "beam/dataflow.sh", "gpu_cluster/run_worker.sh"):
        assert subprocess.run(["bash", "-n", os.path.join(RECIPES, script)]).returncode == 0
    train = _bash("tpu_pod/launch_pod_slice.sh", "train", "--phase2-steps", "10", **env)
    assert train.returncode == 0, train.stderr
    assert "--worker=all" in train.stdout and "--strategy\\ tpu\\ --tpu\\ \\'bert-pod\\'" in train.stdout
    assert "gs://bkt/bert-tf/runs/r1" in train.stdout and train.stdout.rstrip().endswith("--phase2-steps\\ 10")
    preflight = _bash("tpu_pod/launch_pod_slice.sh", "preflight", **env)
    assert "manifest.json" in preflight.stdout and "make_strategy" in preflight.stdout
    assert _bash("tpu_pod/launch_pod_slice.sh", "create", **env).returncode != 0  # RUNTIME is required
    assert _bash("tpu_pod/launch_pod_slice.sh", "bogus", **env).returncode == 2

    # The Dataflow command is one our CLI accepts: --runner beam, with Beam's options passed through.
    import shlex
    from bert_tf.cli import build_parser
    flow = _bash("beam/dataflow.sh", DRY_RUN="1", PROJECT="proj", REGION="us-central1", BUCKET="gs://bkt")
    argv = shlex.split(flow.stdout)
    assert argv[0] == "bert-tf"
    args, extra = build_parser().parse_known_args(argv[1:])
    assert args.runner == "beam" and args.beam_runner == "DataflowRunner" and args.output_dir.startswith("gs://bkt/")
    assert extra[:2] == ["--project", "proj"] and "--temp_location" in extra
