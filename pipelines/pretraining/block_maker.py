"""One block of text to its TFRecord file and counts, in whichever process makes it.

Both runners call this: the local runner's worker processes (`local_workers.py`) and the Beam
workers (`beam_pipeline.py`), so a block's bytes do not depend on who makes it. Block `k` is written
to `.work/block-k.tfrecord[.gz]` with its counts in `.work/block-k.json`, each under a temporary name
renamed when whole: a counts file means the block is done.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from bert_tf import storage
from bert_tf.storage import write_text_atomic
from pipelines.pretraining.blocks import TextBlock

if TYPE_CHECKING:
    from pipelines.pretraining.generate import RunSpec

WORK = ".work"


def block_path(work: str, index: int, gzip: bool) -> str:
    return storage.join(work, f"block-{index:06d}.tfrecord" + (".gz" if gzip else ""))


def counts_path(work: str, index: int) -> str:
    return storage.join(work, f"block-{index:06d}.json")


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
        return storage.exists(counts_path(self.work, index))

    def make(self, block: TextBlock) -> dict[str, int]:
        from pipelines.pretraining.examples import block_records, tokenize_block
        from pipelines.pretraining.record_files import write_atomic

        records, counts = block_records(tokenize_block(block, self.tokenize_lines), block.index, self.spec.options,
                                        self.vocab)
        counts["lines"] = block.num_lines
        counts["documents"] = len(block.documents)
        write_atomic(block_path(self.work, block.index, self.spec.gzip), records, compress=self.spec.gzip)
        write_text_atomic(counts_path(self.work, block.index), json.dumps(counts))
        return counts
