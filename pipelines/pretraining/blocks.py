"""Cut a stream of documents into numbered blocks: the unit of work, of randomness and of resuming.

A block holds whole documents, a few MB of text; it closes at the first document break after
`block_chars` characters. A document longer than twice that is cut into parts (each part then counts
as a document), so memory stays bounded even for a file with no blank lines. Blocks depend only on
the input and `block_chars`, never on the number of workers: block `k` is the same text whoever
makes it, and its random draws are seeded from `(random_seed, k)`, which is why output does not
depend on `--num-workers`.

Sources give lines with `None` for a document break: text files (a blank line or the end of a file
ends a document; the original format) and TFDS datasets (one example is one document, its non-blank
lines its sentences).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Iterable, Iterator, Optional

from bert_tf.text_files import iter_lines
from pipelines.pretraining.errors import OptionsError

Line = Optional[str]


@dataclasses.dataclass
class TextBlock:
    index: int
    documents: list[list[str]]

    @property
    def num_lines(self) -> int:
        return sum(len(d) for d in self.documents)


def text_file_lines(paths: Iterable[str], on_bad_line: Callable[[str], None] | None = None,
                    on_bytes: Callable[[int], None] | None = None) -> Iterator[Line]:
    """Lines of text files in the original format; `None` at blank lines and at the end of each file."""
    for path in paths:
        for line in iter_lines(path, on_bytes=on_bytes, on_bad_line=on_bad_line):
            yield line.strip() or None
        yield None


def tfds_lines(name: str, split: str, text_feature: str = "text", data_dir: str | None = None) -> Iterator[Line]:
    """Lines of a prepared TFDS text dataset: one example per document, its non-blank lines as sentences."""
    import tensorflow_datasets as tfds
    builder = tfds.builder(name, data_dir=data_dir)
    if text_feature not in builder.info.features:
        raise OptionsError(f"TFDS dataset {name!r} has no feature {text_feature!r} "
                         f"(it has: {', '.join(builder.info.features)})")
    dataset = builder.as_dataset(split=split, shuffle_files=False)
    for example in dataset.as_numpy_iterator():
        value = example[text_feature]
        text = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)
        for line in text.split("\n"):
            line = line.strip()
            if line:
                yield line
        yield None


def iter_blocks(lines: Iterable[Line], block_chars: int) -> Iterator[TextBlock]:
    """Numbered blocks of documents (lists of non-blank lines) from a stream of lines."""
    documents: list[list[str]] = []
    document: list[str] = []
    size = 0
    index = 0
    for line in lines:
        if line is None:
            if document:
                documents.append(document)
                document = []
            if size >= block_chars:
                yield TextBlock(index, documents)
                index, documents, size = index + 1, [], 0
            continue
        document.append(line)
        size += len(line) + 1
        if size >= 2 * block_chars:  # a very long document: cut it here
            documents.append(document)
            yield TextBlock(index, documents)
            index, documents, document, size = index + 1, [], [], 0
    if document:
        documents.append(document)
    if documents:
        yield TextBlock(index, documents)
