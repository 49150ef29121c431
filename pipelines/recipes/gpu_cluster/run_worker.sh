#!/usr/bin/env bash
# One worker of a multi-worker GPU pretraining job (MultiWorkerMirroredStrategy). Run it on every host,
# same arguments, each with its own WORKER_INDEX:
#
#   WORKER_HOSTS=gpu-a:2222,gpu-b:2222 WORKER_INDEX=0 \
#     pipelines/recipes/gpu_cluster/run_worker.sh --config bert_base --input 'gs://BUCKET/data/*.tfrecord' \
#       --model-dir gs://BUCKET/runs/base --train-batch-size 256 --num-train-steps 1000000 --mixed-precision mixed_float16
#
# Everything after the variables goes to `bert-tf pretrain` (which gets --strategy multi_worker).
# --model-dir and --input must be storage every host reads (gs://, NFS): all workers restore the
# chief's (worker 0's) checkpoints. The worker runs under the restart loop (supervise.py): when any
# worker dies, the others fail their next collective, every host restarts its worker and all of
# them resume from the last checkpoint. DRY_RUN=1 prints TF_CONFIG and the command instead.
set -euo pipefail

: "${WORKER_HOSTS:?set WORKER_HOSTS=host:port,host:port,... (the same list, in the same order, on every host)}"
: "${WORKER_INDEX:?set WORKER_INDEX to the position of this host in WORKER_HOSTS (0 is the chief)}"
MAX_RESTARTS="${MAX_RESTARTS:-10}"
PYTHON="${PYTHON:-python3}"

IFS=, read -r -a hosts <<< "$WORKER_HOSTS"
if (( WORKER_INDEX < 0 || WORKER_INDEX >= ${#hosts[@]} )); then
  echo "run_worker.sh: WORKER_INDEX=$WORKER_INDEX is not a position in WORKER_HOSTS (${#hosts[@]} hosts)" >&2
  exit 2
fi
workers_json=$(printf '"%s",' "${hosts[@]}")
export TF_CONFIG="{\"cluster\": {\"worker\": [${workers_json%,}]}, \"task\": {\"type\": \"worker\", \"index\": $WORKER_INDEX}}"
command=("$PYTHON" -m pipelines.recipes.supervise --max-restarts "$MAX_RESTARTS" --name "worker-$WORKER_INDEX" --
         "$PYTHON" -m bert_tf.cli pretrain --strategy multi_worker "$@")

if [[ "${DRY_RUN:-0}" == 1 ]]; then
  echo "TF_CONFIG=$TF_CONFIG"
  printf '%q ' "${command[@]}"; echo
  exit 0
fi

# Preflight: fail here, in seconds, rather than in a collective after every host has started.
"$PYTHON" - <<'PY'
import json, os, socket, sys
import tensorflow as tf
config = json.loads(os.environ["TF_CONFIG"])
me = config["cluster"]["worker"][config["task"]["index"]]
port = int(me.rsplit(":", 1)[1])
with socket.socket() as s:
    try:
        s.bind(("", port))
    except OSError as e:
        sys.exit(f"preflight: port {port} of {me} is taken ({e}); is a worker already running here?")
gpus = tf.config.list_physical_devices("GPU")
print(f"preflight: {me}, TensorFlow {tf.__version__}, {len(gpus)} GPU(s)", file=sys.stderr)
if not gpus:
    print("preflight: warning: no GPU visible; this worker will train on CPU", file=sys.stderr)
import bert_tf  # the package is installed on this host
PY
exec "${command[@]}"
