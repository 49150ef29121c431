"""Documents for pretraining: text files with one sentence per line and a blank line between documents.

Lines are tokenized in batches with `BertTokenizer` (the original's pieces), so reading is fast and
streamed; a document is a list of sentences, each a list of word pieces. As in the original, a line
with no pieces is dropped and empty documents are skipped.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import tensorflow as tf

from bert_tf.text_files import iter_corpus
from bert_tf.tokenization import BertTokenizer


def iter_documents(paths: Iterable[str], tokenizer: BertTokenizer,
                   batch_lines: int = 2048) -> Iterator[list[list[str]]]:
    """Documents of word pieces from the files, in order; a new document at each blank line and file."""
    pieces_of = tf.function(lambda x: tokenizer.id_to_token(tokenizer.tokenize(x)),
                            input_signature=[tf.TensorSpec([None], tf.string)])
    document: list[list[str]] = []
    pending: list[str | None] = []  # lines, with None marking a document break

    def flush() -> Iterator[list[list[str]]]:
        nonlocal document
        texts = [line for line in pending if line is not None]
        rows = iter(pieces_of(tf.constant(texts)).to_list() if texts else [])
        for line in pending:
            if line is None:
                if document:
                    yield document
                document = []
                continue
            pieces = [p.decode("utf-8") for p in next(rows)]
            if pieces:
                document.append(pieces)
        pending.clear()

    for path in paths:
        for line in iter_corpus([path]):
            pending.append(line.strip() or None)
            if len(pending) >= batch_lines:
                yield from flush()
        pending.append(None)  # a file ends a document
    yield from flush()
    if document:
        yield document
