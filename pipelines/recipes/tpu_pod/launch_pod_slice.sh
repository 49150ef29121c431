#!/usr/bin/env bash
# BERT pretraining on a Cloud TPU VM pod slice with TPUStrategy. Run from any machine with gcloud:
#
#   TPU_NAME=bert-pod ZONE=us-central2-b ACCELERATOR=v4-32 BUCKET=gs://my-bucket \
#     pipelines/recipes/tpu_pod/launch_pod_slice.sh create      # once: the slice (TPU VM, TF runtime)
#   ... launch_pod_slice.sh install     # pip install bert-tf on every host of the slice
#   ... launch_pod_slice.sh preflight   # checks, on every host: TPU visible, bucket readable/writable, data manifest
#   ... launch_pod_slice.sh train [bert-tf pretrain flags]   # the same command on every host (--worker=all)
#   ... launch_pod_slice.sh delete
#
# gs:// layout (one bucket in the slice's region; TPU hosts have no shared disk):
#   $BUCKET/bert-tf/vocab.txt                       the vocab
#   $BUCKET/bert-tf/data/seq128/pretraining-*.tfrecord + manifest.json   (create-pretraining-data --runner beam)
#   $BUCKET/bert-tf/data/seq512/...                 a second phase, if any
#   $BUCKET/bert-tf/runs/$RUN/                      --model-dir: checkpoints/, logs/ (TensorBoard), metrics.jsonl, export/
# Restarting: `train` again with the same --model-dir resumes from the last checkpoint (a preempted
# slice, a maintenance event). DRY_RUN=1 prints the gcloud commands instead of running them.
set -euo pipefail

: "${TPU_NAME:?set TPU_NAME}"; : "${ZONE:?set ZONE}"; : "${BUCKET:?set BUCKET=gs://...}"
ACCELERATOR="${ACCELERATOR:-v4-32}"
RUN="${RUN:-bert-base}"
PACKAGE="${PACKAGE:-bert-tf}"                     # or a wheel on gs:// built with `pip wheel .`
step="${1:?usage: launch_pod_slice.sh create|install|preflight|train|delete [pretrain flags]}"; shift || true

run() {
  if [[ "${DRY_RUN:-0}" == 1 ]]; then printf '%q ' "$@"; echo; else "$@"; fi
}
on_all_hosts() {
  run gcloud compute tpus tpu-vm ssh "$TPU_NAME" --zone "$ZONE" --worker=all --command "$1"
}

case "$step" in
  create)
    : "${RUNTIME:?set RUNTIME to a TensorFlow 2.21 pod image from: gcloud compute tpus tpu-vm versions list --zone ZONE}"
    run gcloud compute tpus tpu-vm create "$TPU_NAME" --zone "$ZONE" --accelerator-type "$ACCELERATOR" \
      --version "$RUNTIME"
    ;;
  install)
    on_all_hosts "pip install --upgrade '$PACKAGE'"
    ;;
  preflight)
    on_all_hosts "set -e
python3 - <<'PY'
import json, sys, tensorflow as tf
from bert_tf.training.strategy import make_strategy
strategy = make_strategy('tpu', '$TPU_NAME')
print('TPU replicas:', strategy.num_replicas_in_sync, file=sys.stderr)
data = '$BUCKET/bert-tf/data/seq128'
manifest = json.loads(tf.io.gfile.GFile(data + '/manifest.json').read())
shards = tf.io.gfile.glob(data + '/pretraining-*.tfrecord*')
assert len(shards) == manifest['num_shards'], f'{len(shards)} shards, manifest says {manifest[\"num_shards\"]}'
assert len(shards) >= strategy.num_replicas_in_sync // 4, 'fewer shards than hosts: some hosts would read nothing'
probe = '$BUCKET/bert-tf/runs/$RUN/.preflight-' + str(tf.random.uniform([], 0, 1 << 30, tf.int64).numpy())
tf.io.gfile.GFile(probe, 'w').write('ok'); tf.io.gfile.remove(probe)
print('preflight ok:', manifest['instances'], 'instances in', len(shards), 'shards; run dir writable', file=sys.stderr)
PY"
    ;;
  train)
    on_all_hosts "cd ~ && bert-tf pretrain --strategy tpu --tpu '$TPU_NAME' --jit-compile \
      --config bert_base --input '$BUCKET/bert-tf/data/seq128/pretraining-*.tfrecord' \
      --model-dir '$BUCKET/bert-tf/runs/$RUN' --train-batch-size 4096 --num-train-steps 125000 \
      --optimizer lamb --learning-rate 1.76e-3 --warmup-steps 3125 --mixed-precision mixed_bfloat16 \
      --steps-per-loop 1000 --save-checkpoints-steps 5000 $*"
    ;;
  delete)
    run gcloud compute tpus tpu-vm delete "$TPU_NAME" --zone "$ZONE" --quiet
    ;;
  *)
    echo "launch_pod_slice.sh: unknown step '$step' (create, install, preflight, train, delete)" >&2; exit 2
    ;;
esac
