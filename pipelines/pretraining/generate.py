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
   written last and `.work/` removed. An interrupted run resumes: finished shards and finished
   blocks are kept. A directory holding a different run is refused unless `overwrite`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing
import os
import queue
import sys
import time
from typing import Any, Callable, Iterator

from bert_tf import storage
from bert_tf.storage import write_text_atomic
from pipelines.pretraining.blocks import Line, TextBlock, iter_blocks, text_file_lines, tfds_lines
from pipelines.pretraining.examples import ExampleOptions

MANIFEST = "manifest.json"
WORK = ".work"
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


def _block_path(work: str, index: int, gzip: bool) -> str:
    return storage.join(work, f"block-{index:06d}.tfrecord" + (".gz" if gzip else ""))


def _counts_path(work: str, index: int) -> str:
    return storage.join(work, f"block-{index:06d}.json")


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
        pipeline_options(beam_args or [], num_workers)  # bad Beam options fail before anything is read
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
            result = run_beam(spec, output_dir, done_shards, num_workers, beam_args or [], progress)
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
    if num_workers == 1:
        results = [run_worker(spec, output_dir, 0, BlockClaims(), done_shards, progress)]
    else:
        results = _run_in_processes(spec, output_dir, num_workers, done_shards, progress)
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
                    with storage.open_file(_block_path(work, index, spec.gzip), "rb") as f:
                        for chunk in iter(lambda: f.read(1 << 22), b""):
                            out.write(chunk)
            storage.rename(tmp, shard_path)
        except BaseException:
            storage.remove_if_exists(tmp)
            raise
    for index in blocks:
        storage.remove_if_exists(_block_path(work, index, spec.gzip))


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
    return json.loads(storage.read_text(_counts_path(work, index)))


# ---------------------------------------------------------------------------------------------- workers

class BadLines:
    """What to do with a line that is not UTF-8: stop with the file, line and byte, or, with
    `--skip-bad-lines`, skip it and keep a count and a few examples for the manifest."""

    def __init__(self, skip: bool):
        self.skip = skip
        self.messages: list[str] = []

    def __call__(self, message: str) -> None:
        if not self.skip:
            from bert_tf.text_files import TextInputError
            raise TextInputError(message + "; convert the file to UTF-8 or pass --skip-bad-lines")
        self.messages.append(message)

    def summary(self) -> dict[str, Any]:
        return {"bad_lines": len(self.messages), "bad_line_examples": self.messages[:5]}


class BlockMaker:
    """Makes blocks in one process: the tokenizer and vocab are loaded once, then each block becomes
    its TFRecord file and its counts file in `.work/` (both written under a temporary name and
    renamed). The local workers and the Beam workers both call this, so they write the same bytes."""

    def __init__(self, spec: RunSpec, output_dir: str, single_thread: bool = False):
        import numpy as np
        import tensorflow as tf

        from bert_tf.tokenization import BertTokenizer
        from bert_tf.tokenization.vocab import read_vocab_file
        from pipelines.pretraining.examples import VocabInfo

        if single_thread:  # one of several worker processes: one core each
            try:
                tf.config.threading.set_inter_op_parallelism_threads(1)
                tf.config.threading.set_intra_op_parallelism_threads(1)
            except RuntimeError:  # TensorFlow already running in this process (an in-process runner)
                pass
        self.spec = spec
        self.work = storage.join(output_dir, WORK)
        tokenizer = BertTokenizer(spec.vocab_file, lower_case=spec.lower_case)

        def tokenize_lines(lines: list[str]) -> tuple[np.ndarray, np.ndarray]:
            # Eager: with thousands of lines per call the per-op overhead is noise, and tracing a
            # tf.function would cost each worker more than a second of start-up.
            pieces = tokenizer.tokenize(tf.constant(lines))
            return pieces.flat_values.numpy(), pieces.row_splits.numpy()

        self.tokenize_lines = tokenize_lines
        self.vocab = VocabInfo.from_tokens(read_vocab_file(spec.vocab_file))

    def is_made(self, index: int) -> bool:
        return storage.exists(_counts_path(self.work, index))

    def make(self, block: TextBlock) -> dict[str, int]:
        from pipelines.pretraining.examples import block_records, tokenize_block
        from pipelines.pretraining.record_files import write_atomic

        records, counts = block_records(tokenize_block(block, self.tokenize_lines), block.index, self.spec.options,
                                        self.vocab)
        counts["lines"] = block.num_lines
        counts["documents"] = len(block.documents)
        write_atomic(_block_path(self.work, block.index, self.spec.gzip), records, compress=self.spec.gzip)
        write_text_atomic(_counts_path(self.work, block.index), json.dumps(counts))
        return counts


class BlockClaims:
    """Which worker makes which block: every worker reads the blocks in order and claims the next one
    nobody has claimed (a shared high-water mark), so fast workers take more blocks and none waits.
    Who makes a block never changes its bytes."""

    def __init__(self, context=None):
        self._highest = context.Value("q", -1) if context is not None else None

    @property
    def shared(self) -> bool:
        return self._highest is not None

    def claim(self, index: int) -> bool:
        if self._highest is None:
            return True
        with self._highest.get_lock():
            if index > self._highest.value:
                self._highest.value = index
                return True
            return False


def run_worker(spec: RunSpec, output_dir: str, worker: int, claims: BlockClaims, done_shards: set[int],
               progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Make every block this worker claims that is not made yet; count all blocks."""
    maker = BlockMaker(spec, output_dir, single_thread=claims.shared)
    bad_lines = BadLines(spec.skip_bad_lines)
    scanned = [0]

    def on_bytes(n: int) -> None:
        scanned[0] += n

    made = instances = 0
    num_blocks = 0
    for block in iter_blocks(spec.source.lines(bad_lines, on_bytes), spec.block_chars):
        num_blocks = block.index + 1
        if block.index % spec.num_shards in done_shards:
            continue
        if maker.is_made(block.index) or not claims.claim(block.index):
            continue
        counts = maker.make(block)
        made += 1
        instances += counts["instances"]
        if progress is not None:
            progress({"worker": worker, "blocks": made, "instances": instances, "scanned_bytes": scanned[0]})
    if progress is not None:
        progress({"worker": worker, "blocks": made, "instances": instances, "scanned_bytes": scanned[0],
                  "finished": True})
    return {"num_blocks": num_blocks, **bad_lines.summary()}


def _worker_main(spec, output_dir, worker, claims, done_shards, messages) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    code = 0
    try:
        result = run_worker(spec, output_dir, worker, claims, done_shards, messages.put)
        messages.put({"worker": worker, "result": result})
    except BaseException as e:  # report, the parent raises it
        messages.put({"worker": worker, "error": e if _picklable(e) else RuntimeError(repr(e))})
        code = 1
    # Leave at once once the messages are out: TensorFlow's interpreter teardown takes a noticeable
    # fraction of a second and the parent has nothing more to wait for.
    messages.close()
    messages.join_thread()
    os._exit(code)


def _safe_to_fork() -> bool:
    if sys.platform != "linux":
        return False
    if "tensorflow" not in sys.modules:
        return True
    try:
        from tensorflow.python.eager import context
        return not context.context()._initialized
    except Exception:
        return False


def _picklable(value) -> bool:
    import pickle
    try:
        pickle.dumps(value)
        return True
    except Exception:
        return False


def _run_in_processes(spec: RunSpec, output_dir: str, num_workers: int, done_shards: set[int],
                      progress: Callable[[dict[str, Any]], None] | None) -> list[dict[str, Any]]:
    """One process per worker. Forked when TensorFlow has not started its runtime in this process
    (importing it starts no threads; running an op does), which saves each worker seconds of start-up;
    spawned otherwise, since a running TensorFlow must not be forked."""
    fork = _safe_to_fork()
    if fork:
        from bert_tf.tokenization import char_classes
        char_classes.precompute()  # inherited by every worker
    context = multiprocessing.get_context("fork" if fork else "spawn")
    messages = context.Queue()
    claims = BlockClaims(context)
    processes = [context.Process(target=_worker_main, args=(spec, output_dir, w, claims, done_shards, messages),
                                 daemon=True) for w in range(num_workers)]
    for p in processes:
        p.start()
    results: dict[int, dict[str, Any]] = {}
    try:
        while len(results) < num_workers:
            try:
                message = messages.get(timeout=1.0)
            except queue.Empty:
                dead = [w for w, p in enumerate(processes) if not p.is_alive() and w not in results]
                if dead:
                    time.sleep(0.5)  # a last message may still be in the pipe
                    if messages.empty():
                        raise RuntimeError(f"worker {dead[0]} exited with code {processes[dead[0]].exitcode}")
                continue
            if "error" in message:
                raise message["error"]
            if "result" in message:
                results[message["worker"]] = message["result"]
            elif progress is not None:
                progress(message)
    finally:
        for p in processes:
            if p.is_alive():
                p.terminate()
            p.join(timeout=10)
    return [results[w] for w in range(num_workers)]


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use `bert-tf create-pretraining-data`")
