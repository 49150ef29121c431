"""Learning a WordPiece vocab from text files with tensorflow-text's learner.

tensorflow-text's `bert_vocab_from_dataset` is two steps: count the words of a dataset (with its
own `BasicTokenizer`, which case-folds with NFKC and so sees slightly different words than the
original tokenizer), then `wordpiece_tokenizer_learner_lib.learn` on the counts. We keep the
second step as it is and replace the first: words are counted with our `BasicTokenizer` (the
original's rules, so the vocab is learned from the words our `BertTokenizer` will look up), over
files streamed in batches, so corpora larger than memory only cost the size of the word counts.

The learner keeps every piece seen at least `threshold` times; tensorflow-text binary-searches the
threshold but stops at the first size within a slack *below* the target, and returns an oversize
vocab when no threshold lands there. We run the same search (`learn_with_thresh` per step) with
progress lines, and when no integer threshold gives the size exactly, take the vocab just under
it and add pieces from the one just over it, in the learner's order, up to the target. Counts are sorted before learning, so a
run is a pure function of its inputs and options (two runs give byte-identical files).
"""

from __future__ import annotations

import collections
import time
import warnings
from typing import Callable, Iterable

import tensorflow as tf
from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as learner

from bert_tf.text_files import expand_inputs, file_size, iter_corpus
from bert_tf.tokenization.basic import BasicTokenizer
from bert_tf.tokenization.vocab import SPECIAL_TOKENS


def count_words(paths: Iterable[str], lower_case: bool = True, batch_lines: int = 4096,
                max_lines: int | None = None,
                on_progress: Callable[[int, int], None] | None = None) -> tuple[collections.Counter, int]:
    """Word counts (the original's words) over the lines of `paths`, and the number of lines read.

    `on_progress(bytes_read, lines_read)` is called after each batch.
    """
    basic = BasicTokenizer(lower_case)
    words_of = tf.function(lambda x: basic.tokenize(x).flat_values,
                           input_signature=[tf.TensorSpec([None], tf.string)])
    counts: collections.Counter = collections.Counter()
    read = {"bytes": 0}
    lines_read = 0

    def on_bytes(n: int) -> None:
        read["bytes"] += n

    batch: list[str] = []
    for line in iter_corpus(paths, on_bytes):
        if max_lines is not None and lines_read >= max_lines:
            break
        lines_read += 1
        if line.strip():
            batch.append(line)
        if len(batch) >= batch_lines:
            counts.update(words_of(tf.constant(batch)).numpy().tolist())
            batch = []
            if on_progress:
                on_progress(read["bytes"], lines_read)
    if batch:
        counts.update(words_of(tf.constant(batch)).numpy().tolist())
    if on_progress:
        on_progress(read["bytes"], lines_read)
    return collections.Counter({w.decode("utf-8"): c for w, c in counts.items()}), lines_read


def learn_vocab(inputs: str | Iterable[str], vocab_size: int, lower_case: bool = True,
                reserved_tokens: Iterable[str] = SPECIAL_TOKENS, max_lines: int | None = None,
                progress: Callable[[str], None] | None = None,
                **learn_params) -> list[str]:
    """A WordPiece vocab of about `vocab_size` tokens (reserved tokens first) learned from text files.

    Args:
      inputs: glob pattern(s) of plain or gzip text files.
      vocab_size: the size, reserved tokens included (exact unless the corpus has too few pieces).
      lower_case: learn an uncased vocab (the text is lowercased and stripped of accents first).
      reserved_tokens: tokens placed first, in this order; `[PAD]` `[UNK]` `[CLS]` `[SEP]` `[MASK]`.
      max_lines: read at most this many lines (all by default).
      progress: called with a one-line status now and then.
      learn_params: passed on to tensorflow-text's learner (`max_unique_chars`, `max_token_length`...).
    """
    if vocab_size < 100:
        raise ValueError(f"vocab_size {vocab_size} is too small for a WordPiece vocab (100 at least)")
    paths = expand_inputs(inputs)
    total = sum(file_size(p) for p in paths)
    start = time.monotonic()
    last = [0.0]

    def on_progress(done: int, lines: int) -> None:
        now = time.monotonic()
        if progress and (now - last[0] >= 2.0 or done >= total):
            last[0] = now
            rate = done / max(now - start, 1e-9) / 1e6
            progress(f"counting words: {done / 1e6:.1f}/{total / 1e6:.1f} MB ({100 * done / max(total, 1):.0f}%), "
                     f"{lines} lines, {rate:.1f} MB/s")

    counts, lines = count_words(paths, lower_case, max_lines=max_lines, on_progress=on_progress)
    if not counts:
        raise ValueError(f"no words found in {', '.join(paths)}")
    if progress:
        progress(f"counted {sum(counts.values())} words ({len(counts)} distinct) in {lines} lines; learning")
    # Sorted by count, then word: the learner's result depends on the order of ties.
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    vocab = _learn(ordered, vocab_size, list(reserved_tokens), progress, **learn_params)
    if len(vocab) < vocab_size * 0.99:
        message = (f"the corpus only supports {len(vocab)} tokens of the {vocab_size} asked for (pieces must be "
                   f"seen at least lower_thresh={learn_params.get('lower_thresh', 10)} times); use more text "
                   "or a smaller --vocab-size")
        warnings.warn(message, stacklevel=2)
        if progress:
            progress("warning: " + message)
    if progress:
        progress(f"learned {len(vocab)} tokens in {time.monotonic() - start:.1f} s")
    return vocab


def _learn(ordered: list[tuple[str, int]], vocab_size: int, reserved: list[str],
           progress: Callable[[str], None] | None, **learn_params) -> list[str]:
    """tensorflow-text's learner, with a binary search on the count threshold for the closest size."""
    params = learner.Params(**{**dict(
        upper_thresh=int(1e7), lower_thresh=10, num_iterations=4, max_input_tokens=int(5e6),
        max_token_length=50, max_unique_chars=1000, slack_ratio=0.0, include_joiner_token=True,
        joiner="##"), **learn_params, "vocab_size": vocab_size, "reserved_tokens": reserved})
    upper, lower = learner.get_search_threshs(ordered, params.upper_thresh, params.lower_thresh)
    words = learner.get_input_words(ordered, reserved, params.max_token_length)
    words = learner.filter_input_words(words, learner.get_allowed_chars(words, params.max_unique_chars),
                                       params.max_input_tokens)
    lower = max(1, min(lower, upper))
    above: list[str] | None = None   # smallest vocab over the target seen so far
    below: list[str] | None = None   # largest vocab under it
    while lower <= upper:
        threshold = (lower + upper) // 2
        vocab = reserved + [t for t in learner.learn_with_thresh(words, threshold, params) if t not in reserved]
        if progress:
            progress(f"learning: pieces seen >= {threshold} times -> {len(vocab)} tokens (target {vocab_size})")
        if len(vocab) == vocab_size:
            return vocab
        if len(vocab) > vocab_size:
            above = vocab if above is None or len(vocab) < len(above) else above
            lower = threshold + 1
        else:
            below = vocab if below is None or len(vocab) > len(below) else below
            upper = threshold - 1
    if below is None or above is None:
        return below or above
    # Thresholds are integers, so sizes jump; fill the gap with pieces of the next threshold down
    # (all seen about `threshold` times), in the learner's order, to land on the target exactly.
    have = set(below)
    extra = [t for t in above if t not in have][: vocab_size - len(below)]
    return below + extra
