"""The local runner's worker processes: each streams the input, claims the next block nobody has
claimed, and makes it with `BlockMaker`. Forked when TensorFlow has not started in the parent (fast),
spawned otherwise; errors and progress come back over a queue."""

from __future__ import annotations

import multiprocessing
import os
import queue
import sys
import time
from typing import TYPE_CHECKING, Any, Callable

from pipelines.pretraining.block_maker import BadLines, BlockMaker
from pipelines.pretraining.blocks import iter_blocks

if TYPE_CHECKING:
    from pipelines.pretraining.generate import RunSpec


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


def run_in_processes(spec: RunSpec, output_dir: str, num_workers: int, done_shards: set[int],
                      progress: Callable[[dict[str, Any]], None] | None) -> list[dict[str, Any]]:
    """One process per worker. Forked when TensorFlow has not started its runtime in this process
    (importing it starts no threads; running an op does), which saves each worker seconds of start-up;
    spawned otherwise, since a running TensorFlow must not be forked."""
    fork = _safe_to_fork()
    if fork:
        from bert_tf.tokenization import char_classes, original_normalizer
        from bert_tf.tokenization.vocab import load_vocab
        char_classes.precompute()  # inherited by every worker
        original_normalizer.precompute(spec.lower_case, load_vocab(spec.vocab_file))
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
