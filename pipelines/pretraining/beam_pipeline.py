"""Pretraining data on Apache Beam: the same blocks and bytes as the local runner, on any Beam runner.

    plan (launcher)      read the input once, cut it into blocks, note each block's byte range
    Create(ranges)       only the blocks not made yet (a rerun resumes)
    Reshuffle            spread them over the workers
    MakeBlocks           read the range, tokenize, pair, mask, encode: `BlockMaker`, the code the
                         local workers run, writes `.work/block-K.tfrecord` and its counts
    GroupByKey(shard)    a shard's blocks are all made ...
    AssembleShards       ... then concatenated in block order into the shard file
    manifest (launcher)  from the blocks' counts, as the local runner writes it

Block `k` is seeded from `(random_seed, k)` and goes to shard `k % num_shards`, so the shards are
byte-identical to the local runner's for the same input, options and seed. The output directory
(and the vocab and input) can be `gs://` paths, which a Dataflow job needs: its workers share no
disk. Large blocks travel as byte ranges, never through the runner's shuffle, so a worker holds one
block (a few MB of text) at a time and memory stays flat however large the corpus.

Runners: `DirectRunner` (this machine; with `num_workers > 1` one process per worker),
`PrismRunner`, `DataflowRunner`, `FlinkRunner`, `SparkRunner`, chosen by `--runner` among the
pipeline options, which are passed through untouched (see docs/pretraining_data_on_beam.md).
"""

from __future__ import annotations

import dataclasses
import json
import threading
from typing import Any, Callable

import apache_beam as beam

from bert_tf import storage

RUNNERS = ("DirectRunner", "PrismRunner", "DataflowRunner", "FlinkRunner", "SparkRunner")


class MakeBlocks(beam.DoFn):
    """Make each planned block not made yet; emit `(shard, block index)`."""

    def __init__(self, spec, output_dir: str):
        super().__init__()
        self.spec, self.output_dir = spec, output_dir
        self.maker = None

    def setup(self) -> None:
        from pipelines.pretraining.block_maker import BlockMaker
        # A Beam worker process runs one bundle at a time per core it was given: TensorFlow gets one
        # thread, parallelism comes from the number of workers.
        self.maker = BlockMaker(self.spec, self.output_dir, single_thread=True)

    def process(self, block_range):
        from pipelines.pretraining.block_plan import read_block
        if not self.maker.is_made(block_range.index):  # a retried bundle or a resumed run
            block = read_block(self.spec.source.files, block_range, self.spec.block_chars)
            self.maker.make(block)
        yield block_range.index % self.spec.num_shards, block_range.index


def _assemble(shard_and_blocks, spec, output_dir: str, num_blocks: int) -> int:
    from pipelines.pretraining.generate import assemble_shard
    shard, _ = shard_and_blocks
    assemble_shard(spec, output_dir, shard, num_blocks)
    return shard


def pipeline_options(beam_args: list[str], num_workers: int):
    """Beam's options from the pass-through arguments; `--runner` defaults to DirectRunner, which
    with `num_workers > 1` runs that many worker processes (unless the arguments say otherwise)."""
    from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

    from pipelines.pretraining.errors import OptionsError

    beam_args = list(beam_args)
    if not any(a.startswith("--default_sdk_harness_log_level") for a in beam_args):
        beam_args.append("--default_sdk_harness_log_level=WARNING")  # workers' per-bundle INFO lines
    try:
        options = PipelineOptions(beam_args)
    except SystemExit:
        raise OptionsError(f"Beam did not accept the pipeline options {beam_args}") from None
    # Beam drops options it does not know with a log line; a typo (--num_worker) should stop the run instead.
    unknown = sorted(set(options.get_all_options(retain_unknown_options=True)) - set(options.get_all_options()))
    if unknown:
        raise OptionsError(f"unrecognized arguments: {', '.join('--' + name for name in unknown)} (neither "
                           "create-pretraining-data's nor a Beam pipeline option)")
    standard = options.view_as(StandardOptions)
    runner = standard.runner or "DirectRunner"
    if runner.split(".")[-1] not in RUNNERS:
        raise OptionsError(f"unknown Beam runner {runner!r}; choose one of {', '.join(RUNNERS)}")
    standard.runner = runner
    if runner.endswith("DirectRunner") and num_workers > 1:
        direct = options.view_as(DirectOptions)
        if not any(a.startswith("--direct_num_workers") for a in beam_args):
            direct.direct_num_workers = num_workers
        if not any(a.startswith("--direct_running_mode") for a in beam_args):
            direct.direct_running_mode = "multi_processing"
    return options


def run_beam(spec, output_dir: str, done_shards: set[int], options,
             progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Plan, run the Beam pipeline with `options` (from `pipeline_options`), and return what the
    manifest needs (`num_blocks`, bad lines)."""
    from pipelines.pretraining.block_plan import plan_blocks
    from pipelines.pretraining.errors import PipelineRunError
    from pipelines.pretraining.block_maker import WORK, BadLines, counts_path

    # Workers may run elsewhere or in another folder: give them absolute paths (same bytes out).
    spec = dataclasses.replace(spec, vocab_file=storage.absolute(spec.vocab_file), source=dataclasses.replace(
        spec.source, files=tuple(storage.absolute(f) for f in spec.source.files)))
    bad_lines = BadLines(spec.skip_bad_lines)
    scanned = [0]

    def on_bytes(n: int) -> None:
        scanned[0] += n
        if progress is not None:
            progress({"worker": 0, "blocks": 0, "instances": 0, "scanned_bytes": scanned[0], "stage": "plan"})

    plan = plan_blocks(spec.source.files, spec.block_chars, bad_lines, on_bytes)
    work = storage.join(output_dir, WORK)
    storage.write_text_atomic(storage.join(work, "plan.json"), json.dumps([[r.index, r.start, r.end, r.lines]
                                                                          for r in plan]))
    todo = [r for r in plan if r.index % spec.num_shards not in done_shards
            and not storage.exists(counts_path(work, r.index))]
    shards_todo = [(s, -1) for s in range(spec.num_shards) if s not in done_shards]

    watcher = _BlockWatcher(work, scanned[0], progress) if progress is not None else None
    try:
        with beam.Pipeline(options=options) as p:
            made = (p | "Blocks" >> beam.Create(todo, reshuffle=False)
                    | "Spread" >> beam.Reshuffle()
                    | "MakeBlocks" >> beam.ParDo(MakeBlocks(spec, output_dir)))
            every_shard = p | "Shards" >> beam.Create(shards_todo, reshuffle=False)
            _ = ((made, every_shard) | "Together" >> beam.Flatten() | "ByShard" >> beam.GroupByKey()
                 | "AssembleShards" >> beam.Map(_assemble, spec, output_dir, len(plan)))
    except Exception as e:
        done = len([p for p in storage.glob(storage.join(work, "block-*.json")) if ".tmp-" not in p])
        raise PipelineRunError(f"the Beam pipeline failed ({type(e).__name__}: {str(e).splitlines()[0][:300]}); "
                               f"{done} of {len(plan)} blocks are made and kept in {work}: run the same command "
                               "again to resume") from e
    finally:
        if watcher is not None:
            watcher.stop()
    return {"num_blocks": len(plan), **bad_lines.summary()}


class _BlockWatcher:
    """Progress for any runner: count the blocks' counts files appearing in `.work/`."""

    def __init__(self, work: str, scanned: int, progress: Callable[[dict[str, Any]], None]):
        self.work, self.scanned, self.progress = work, scanned, progress
        self.seen: dict[str, int] = {}
        self.before = len(self._counts_files())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _counts_files(self) -> list[str]:
        return [p for p in storage.glob(storage.join(self.work, "block-*.json")) if ".tmp-" not in p]

    def _report(self, finished: bool = False) -> None:
        for path in self._counts_files():
            if path not in self.seen:
                try:
                    self.seen[path] = json.loads(storage.read_text(path))["instances"]
                except (OSError, ValueError):
                    continue
        self.progress({"worker": 0, "blocks": max(0, len(self.seen) - self.before),
                       "instances": sum(self.seen.values()), "scanned_bytes": self.scanned,
                       "finished": finished})

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self._report()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._report(finished=True)
