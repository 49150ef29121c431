"""Where each block of a text corpus starts and ends, so that any process can read just its block.

The tf.data path's workers all stream the input and cut it into blocks as they go (`blocks.py`).
A cluster runner (Beam on Dataflow, Flink, Spark) hands out work items instead, so the launcher first
reads the input once, cheaply (no tokenizing: about the speed of reading the files), running the
same `iter_blocks` and noting the byte position where each block ends. A block is then a small
`BlockRange` (from `(file, offset)` to `(file, offset)`); a worker reads that range and cuts it with
`iter_blocks` again, which gives back exactly the block the stream would have made (the cut only
depends on the lines since the block's start). So both paths make the same blocks, and from the
same blocks the same bytes.

Positions are byte offsets in the (decompressed) files. `(i, 0)` with `i` past a file means "after
the end of file i-1", which is also a document break in the stream.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Iterator, Sequence

from bert_tf.text_files import iter_line_spans
from pipelines.pretraining.blocks import Line, TextBlock, iter_blocks


@dataclasses.dataclass(frozen=True)
class BlockRange:
    index: int
    start: tuple[int, int]  # (file number, byte offset) of the block's first line
    end: tuple[int, int]    # (file number, byte offset) just past its last line or break
    lines: int              # non-blank lines (sentences) in the block, for checking


def plan_blocks(files: Sequence[str], block_chars: int, on_bad_line: Callable[[str], None] | None = None,
                on_bytes: Callable[[int], None] | None = None) -> list[BlockRange]:
    """Read `files` once and return their blocks' ranges, in order."""
    position = [(0, 0)]  # just past the last line (or break) handed to iter_blocks

    def lines() -> Iterator[Line]:
        for number, path in enumerate(files):
            for line, end in iter_line_spans(path, on_bytes=on_bytes, on_bad_line=on_bad_line):
                position[0] = (number, end)
                yield line.strip() or None
            position[0] = (number + 1, 0)
            yield None  # a file ends a document

    ranges: list[BlockRange] = []
    start = (0, 0)
    for block in iter_blocks(lines(), block_chars):
        # iter_blocks yields right after taking the line that closes the block, so `position` is
        # the block's end (or, for the last block, the end of the input).
        ranges.append(BlockRange(block.index, start, position[0], block.num_lines))
        start = position[0]
    return ranges


def read_block(files: Sequence[str], block: BlockRange, block_chars: int) -> TextBlock:
    """The text of one planned block, read from its byte range. Lines that are not UTF-8 are skipped
    here: planning already stopped on them, or counted them when skipping was asked for."""

    def lines() -> Iterator[Line]:
        (first, start), (last, stop) = block.start, block.end
        for number in range(first, min(last, len(files) - 1) + 1):
            if number == last and stop == 0:
                break
            begin = start if number == first else 0
            end = stop if number == last else None
            for line, _ in iter_line_spans(files[number], begin, end, on_bad_line=lambda message: None):
                yield line.strip() or None
            if number < last:
                yield None  # passed the end of this file

    made = list(iter_blocks(lines(), block_chars))
    if len(made) != 1 or made[0].num_lines != block.lines:
        raise RuntimeError(f"block {block.index} read back from {block.start}..{block.end} of the input does not "
                           f"match the plan ({[b.num_lines for b in made]} lines vs {block.lines}); "
                           "did the input files change since planning?")
    return TextBlock(block.index, made[0].documents)
