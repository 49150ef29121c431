"""Raw text to sharded pretraining TFRecords: streaming, parallel, reproducible and resumable.

How a run goes:
1. The input (text files in the original format, or a TFDS split) is cut into numbered blocks of
   whole documents, a few MB each (`blocks.py`). Block `k` goes to shard `k % num_shards`. Every
   worker reads the input stream (cheap) and makes the next block no other worker has claimed (one
   shared counter), so workers share no data and the fast ones do more.
2. A block becomes TFRecord bytes (`examples.py`): the original algorithm, seeded from
   `(random_seed, k)`, with the "other document" of random-next pairs and the final shuffle taken
   within the block instead of the whole corpus (the original holds the corpus in memory; we do
   not). Output therefore depends on the input, the options and the seed only: byte-identical for
   any `num_workers`.
3. Each block is written to `.work/` under a temporary name and renamed when whole, with its counts
   beside it. When all blocks are made, each shard is the concatenation of its blocks (TFRecord and
   multi-member gzip files concatenate), written under a temporary name and renamed.
4. `manifest.json` (options, vocab sha256, inputs, counts per shard, masking and NSP statistics) is
   written last and `.work/` removed.

Who makes the blocks: `local_workers.py` (processes on this machine) or `beam_pipeline.py` (an Apache
Beam pipeline, from a plan of byte ranges); both call `block_maker.BlockMaker`, so both write the
same bytes. An interrupted run resumes: finished shards and finished
   blocks are kept. A directory holding a different run is refused unless `overwrite`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import time
from typing import Any, Callable, Iterator

from bert_tf import storage
from bert_tf.storage import write_text_atomic
from pipelines.pretraining.block_maker import WORK, block_path, counts_path
from pipelines.pretraining.blocks import Line, text_file_lines, tfds_lines
from pipelines.pretraining.examples import ExampleOptions

MANIFEST = "manifest.json"
FORMAT = "bert-tf pretraining data"
FORMAT_VERSION = 1


class OutputExistsError(FileExistsError):
    """The output directory holds data from a different run."""


@dataclasses.dataclass(frozen=True)
class Source:
    """Where the text comes from: files (globs already expanded) or a TFDS `name:split`."""

    files: tuple[str, ...] = ()
    tfds: str | None = None
    text_feature: str = "text"
    tfds_data_dir: str | None = None

    def lines(self, on_bad_line: Callable[[str], None] | None = None,
              on_bytes: Callable[[int], None] | None = None) -> Iterator[Line]:
        if self.tfds:
            name, _, split = self.tfds.partition(":")
            return tfds_lines(name, split or "train", self.text_feature, self.tfds_data_dir)
        return text_file_lines(self.files, on_bad_line=on_bad_line, on_bytes=on_bytes)

    def describe(self) -> list[dict[str, Any]] | dict[str, Any]:
        if self.tfds:
            return {"tfds": self.tfds, "text_feature": self.text_feature,
                    "data_dir": os.path.abspath(self.tfds_data_dir) if self.tfds_data_dir else None}
        return [{"path": storage.absolute(p), "bytes": storage.size(p)} for p in self.files]

    def total_bytes(self) -> int:
        return 0 if self.tfds else sum(storage.size(p) for p in self.files)


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """Everything that determines the output bytes (and nothing else: not the number of workers)."""

    source: Source
    vocab_file: str
    lower_case: bool
    options: ExampleOptions
    num_shards: int = 1
    gzip: bool = False
    block_chars: int = 2_000_000
    skip_bad_lines: bool = False

    def fingerprint(self) -> dict[str, Any]:
        return {"inputs": self.source.describe(), "vocab_sha256": sha256_file(self.vocab_file),
                "lower_case": self.lower_case, "options": dataclasses.asdict(self.options),
                "num_shards": self.num_shards, "gzip": self.gzip, "block_chars": self.block_chars}

    def shard_name(self, shard: int) -> str:
        suffix = ".tfrecord.gz" if self.gzip else ".tfrecord"
        return f"pretraining-{shard:05d}-of-{self.num_shards:05d}{suffix}"


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with storage.open_file(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _prepare_output(spec: RunSpec, output_dir: str, fingerprint: dict[str, Any], overwrite: bool) -> str | None:
    """Check what the directory holds. Returns "complete" when it already holds this run."""
    storage.makedirs(output_dir)
    work = storage.join(output_dir, WORK)
    manifest_path = storage.join(output_dir, MANIFEST)
    previous = None
    if storage.exists(manifest_path):
        previous = json.loads(storage.read_text(manifest_path)).get("fingerprint")
    elif storage.exists(storage.join(work, "run.json")):
        previous = json.loads(storage.read_text(storage.join(work, "run.json")))
    ours = _shard_files(output_dir)
    if previous is None and not ours:
        return None
    if previous == fingerprint:
        return "complete" if storage.exists(manifest_path) else None
    if not overwrite:
        if previous is None:
            raise OutputExistsError(f"{output_dir} already holds pretraining shards of an unknown run "
                                    f"(no {MANIFEST}); pass --overwrite or choose another directory")
        changed = sorted(k for k in set(previous) | set(fingerprint) if previous.get(k) != fingerprint.get(k))
        what = "pretraining data" if storage.exists(manifest_path) else "an unfinished run"
        raise OutputExistsError(f"{output_dir} holds {what} made with different {', '.join(changed)}; "
                                "pass --overwrite or choose another directory")
    for path in ours:
        storage.remove(path)
    storage.remove_if_exists(manifest_path)
    storage.rmtree(work)
    return None


def _shard_files(output_dir: str) -> list[str]:
    return [p for p in storage.glob(storage.join(output_dir, "pretraining-*-of-*.tfrecord*")) if ".tmp-" not in p]


def _remove_stale_temporaries(output_dir: str) -> None:
    for folder in (output_dir, storage.join(output_dir, WORK)):
        for path in storage.glob(storage.join(folder, "*.tmp-*")):
            storage.remove_if_exists(path)


def create_pretraining_data(spec: RunSpec, output_dir: str, num_workers: int = 1, overwrite: bool = False,
                            progress: Callable[[dict[str, Any]], None] | None = None, runner: str = "local",
                            beam_args: list[str] | None = None) -> dict[str, Any]:
    """Make (or finish) the run `spec` in `output_dir`; returns the manifest.

    `runner="local"`: `num_workers` processes on this machine. `runner="beam"`: an Apache Beam
    pipeline (`beam_pipeline.py`) with `beam_args` as its pipeline options; the same blocks and the
    same bytes, made wherever the Beam runner puts its workers."""
    from bert_tf.tokenization.vocab import check_casing, load_vocab
    from pipelines.pretraining.errors import OptionsError, PipelineRunError

    spec.options.validate()
    if spec.num_shards < 1 or num_workers < 1 or spec.block_chars < 1:
        raise OptionsError("num_shards, num_workers and block size must be at least 1")
    if runner not in ("local", "beam"):
        raise OptionsError(f"runner must be 'local' or 'beam', got {runner!r}")
    if runner == "beam":
        if spec.source.tfds:
            raise OptionsError("--runner beam reads text files (--input); a TFDS source runs with the local runner")
        try:
            from pipelines.pretraining.beam_pipeline import pipeline_options, run_beam
        except ImportError as e:
            raise OptionsError(f"--runner beam needs Apache Beam ({e}): pip install 'bert-tf[beam]'") from None
        beam_options = pipeline_options(beam_args or [], num_workers)  # bad options fail before any reading
    vocab_tokens = load_vocab(spec.vocab_file)
    check_casing(vocab_tokens, spec.lower_case, spec.vocab_file)
    started = time.time()
    output_dir = storage.absolute(output_dir)
    fingerprint = spec.fingerprint()
    if _prepare_output(spec, output_dir, fingerprint, overwrite) == "complete":
        manifest = json.loads(storage.read_text(storage.join(output_dir, MANIFEST)))
        manifest["resumed"] = "already complete"
        return manifest
    work = storage.join(output_dir, WORK)
    storage.makedirs(work)
    _remove_stale_temporaries(output_dir)
    write_text_atomic(storage.join(work, "run.json"), json.dumps(fingerprint, indent=1))
    try:
        done_shards = {s for s in range(spec.num_shards)
                       if storage.exists(storage.join(output_dir, spec.shard_name(s)))}
        if runner == "beam":
            result = run_beam(spec, output_dir, done_shards, beam_options, progress)
        else:
            result = _make_blocks_locally(spec, output_dir, num_workers, done_shards, progress)
            for shard in range(spec.num_shards):
                assemble_shard(spec, output_dir, shard, result["num_blocks"])
        manifest = _write_manifest(spec, output_dir, fingerprint, result, vocab_tokens, started, num_workers,
                                   runner)
    except PipelineRunError:
        raise  # a cluster job failed part way: its finished blocks are kept for the rerun
    except Exception:
        # An error (bad input, a failing worker) needs a new run: leave the directory clean. An
        # interruption (KeyboardInterrupt, SIGTERM) keeps the finished blocks and shards for resuming.
        for path in _shard_files(output_dir):
            storage.remove(path)
        storage.rmtree(work)
        raise
    return manifest


def _make_blocks_locally(spec: RunSpec, output_dir: str, num_workers: int, done_shards: set[int],
                         progress: Callable[[dict[str, Any]], None] | None) -> dict[str, Any]:
    from pipelines.pretraining.local_workers import BlockClaims, run_in_processes, run_worker
    if num_workers == 1:
        results = [run_worker(spec, output_dir, 0, BlockClaims(), done_shards, progress)]
    else:
        results = run_in_processes(spec, output_dir, num_workers, done_shards, progress)
    return results[0]


def assemble_shard(spec: RunSpec, output_dir: str, shard: int, num_blocks: int) -> None:
    """Concatenate shard `shard`'s blocks (`shard`, `shard + num_shards`, ...) in order into its file
    (TFRecord and multi-member gzip files concatenate), under a temporary name renamed when whole;
    then drop the block files. Nothing to do when the shard file exists."""
    work = storage.join(output_dir, WORK)
    shard_path = storage.join(output_dir, spec.shard_name(shard))
    blocks = range(shard, num_blocks, spec.num_shards)
    if not storage.exists(shard_path):
        tmp = storage.temporary_name(shard_path)
        try:
            with storage.open_file(tmp, "wb") as out:
                for index in blocks:
                    with storage.open_file(block_path(work, index, spec.gzip), "rb") as f:
                        for chunk in iter(lambda: f.read(1 << 22), b""):
                            out.write(chunk)
            storage.rename(tmp, shard_path)
        except BaseException:
            storage.remove_if_exists(tmp)
            raise
    for index in blocks:
        storage.remove_if_exists(block_path(work, index, spec.gzip))


def _write_manifest(spec: RunSpec, output_dir: str, fingerprint: dict[str, Any], result: dict[str, Any],
                    vocab_tokens: list[str], started: float, num_workers: int, runner: str) -> dict[str, Any]:
    from bert_tf.text_files import TextInputError

    work = storage.join(output_dir, WORK)
    num_blocks = result["num_blocks"]
    if num_blocks == 0:
        where = spec.source.tfds or ", ".join(spec.source.files)
        raise TextInputError(f"no text in the input ({where}): every line is blank"
                             + (" or skipped as not UTF-8" if result["bad_lines"] else ""))
    shards = []
    for shard in range(spec.num_shards):
        blocks = range(shard, num_blocks, spec.num_shards)
        counts = _sum_counts(_read_block_counts(work, index) for index in blocks)
        shards.append({"file": spec.shard_name(shard), "instances": counts["instances"], "blocks": len(blocks),
                       "bytes": storage.size(storage.join(output_dir, spec.shard_name(shard))), "counts": counts})
    totals = _sum_counts(s["counts"] for s in shards)
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "options": dataclasses.asdict(spec.options),
        "vocab": {"file": storage.absolute(spec.vocab_file), "sha256": fingerprint["vocab_sha256"],
                  "lower_case": spec.lower_case, "size": len(vocab_tokens),
                  **{f"{t.strip('[]').lower()}_id": vocab_tokens.index(t)
                     for t in ("[PAD]", "[CLS]", "[SEP]", "[MASK]")}},
        "inputs": fingerprint["inputs"], "num_shards": spec.num_shards, "gzip": spec.gzip,
        "block_chars": spec.block_chars, "num_blocks": num_blocks,
        "bad_lines_skipped": result["bad_lines"], "bad_line_examples": result["bad_line_examples"],
        "shards": shards, "instances": totals["instances"], "statistics": statistics(totals),
        "feature_spec": feature_layout(spec.options),
        "fingerprint": fingerprint, "elapsed_s": round(time.time() - started, 2), "num_workers": num_workers,
        "runner": runner,
    }
    write_text_atomic(storage.join(output_dir, MANIFEST), json.dumps(manifest, indent=1) + "\n")
    storage.rmtree(work)
    return manifest


def feature_layout(options: ExampleOptions) -> dict[str, list]:
    """Feature names, dtypes and shapes of the files (the original's layout)."""
    seq, pred = options.max_seq_length, options.max_predictions_per_seq
    layout = {"input_ids": ["int64", [seq]], "input_mask": ["int64", [seq]], "segment_ids": ["int64", [seq]],
              "next_sentence_labels": ["int64", [1]]}
    if not options.dynamic_masking:
        layout.update(masked_lm_positions=["int64", [pred]], masked_lm_ids=["int64", [pred]],
                      masked_lm_weights=["float32", [pred]])
    return layout


def statistics(counts: dict[str, int]) -> dict[str, float]:
    """Rates a person checks: masking rate and split, NSP balance, short and padded instances."""
    n = max(counts.get("instances", 0), 1)
    masked = max(counts.get("masked", 0), 1)
    stats = {
        "instances": counts.get("instances", 0),
        "random_next_fraction": counts.get("random_next", 0) / n,
        "short_target_fraction": counts.get("short_target", 0) / n,
        "padded_fraction": counts.get("padded", 0) / n,
        "mean_tokens_per_instance": counts.get("tokens", 0) / n,
    }
    if counts.get("candidates"):
        stats.update(
            masked_fraction_of_candidates=counts["masked"] / counts["candidates"],
            as_mask_fraction=counts["as_mask"] / masked, as_self_fraction=counts["as_self"] / masked,
            as_random_fraction=counts["as_random"] / masked,
            at_prediction_cap_fraction=counts["at_cap"] / n)
    return stats


def _sum_counts(items) -> dict[str, int]:
    total: dict[str, int] = {}
    for counts in items:
        for key, value in counts.items():
            total[key] = total.get(key, 0) + value
    total.setdefault("instances", 0)
    return total


def _read_block_counts(work: str, index: int) -> dict[str, int]:
    return json.loads(storage.read_text(counts_path(work, index)))


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use `bert-tf create-pretraining-data`")
