#!/usr/bin/env bash
# Pretraining data for a large corpus on Google Cloud Dataflow (Apache Beam), written to gs:// for
# the TPU pod or GPU cluster recipes. The same command with --beam-runner FlinkRunner/SparkRunner
# (and that runner's options) runs on Flink or Spark; DirectRunner runs it here.
#
#   PROJECT=my-project REGION=us-central1 BUCKET=gs://my-bucket pipelines/recipes/beam/dataflow.sh
#
# Input: text in the original format (one sentence per line, blank line between documents), many
# files (e.g. Wikipedia and books cut into ~100 MB files; gzip files are read from their start for
# each block, so keep gzip files small or use plain text). The launcher reads the input once to cut
# it into 2 MB blocks (no tokenizing), then Dataflow workers make the blocks in parallel.
set -euo pipefail
: "${PROJECT:?set PROJECT}"; : "${REGION:?set REGION}"; : "${BUCKET:?set BUCKET=gs://...}"
INPUT="${INPUT:-$BUCKET/bert-tf/text/*.txt}"
OUTPUT="${OUTPUT:-$BUCKET/bert-tf/data/seq128}"
HERE="$(cd "$(dirname "$0")/../../.." && pwd)"

command=(bert-tf create-pretraining-data --runner beam --beam-runner DataflowRunner
  --input "$INPUT" --vocab "$BUCKET/bert-tf/vocab.txt" --output-dir "$OUTPUT"
  --num-shards 1024 --dupe-factor 10 --max-seq-length 128 --max-predictions-per-seq 20
  # Beam's own options, passed through as given:
  --project "$PROJECT" --region "$REGION" --temp_location "$BUCKET/bert-tf/tmp"
  --setup_file "$HERE/setup.py" --max_num_workers 64 --experiments use_runner_v2
  "$@")
if [[ "${DRY_RUN:-0}" == 1 ]]; then printf '%q ' "${command[@]}"; echo; exit 0; fi
exec "${command[@]}"
