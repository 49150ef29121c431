"""Sentence pairs for next-sentence prediction, over a block of tokenized documents, as index ranges.

The same procedure as `instances.instances_from_document` (the original's), but every segment is a
`[start, end)` range into one flat array of word-piece ids, so nothing is copied while pairing and
the trimming is done for all pairs at once:

1. The documents of the block are visited in a shuffled order, `dupe_factor` times.
2. A chunk gathers whole sentences until it reaches the target length (found by bisection on the
   cumulative sentence lengths) or the document ends; it is cut at a random sentence `a_end`.
3. B is the rest of the chunk, or, for a one-sentence chunk and otherwise with probability 1/2, a run
   of sentences from a random other document of the block, starting at a random sentence; then the
   unused sentences of the chunk are put back.
4. Trimming removes from the longer side first (B on a tie) until the pair fits: the counts follow in
   closed form, and how many of each side's removals come from its front is binomial(n, 1/2), the
   same distribution as the original's coin per removed piece.

Two deliberate differences from the original, both kept because the original's statistics depend on
the shape of the corpus (`original_pairing=True` restores its behaviour):
- The short target length (`short_seq_prob`) is drawn per chunk. The original draws it once per
  document, so on corpora of book-length documents the share of short instances swings with a
  handful of draws instead of being `short_seq_prob`.
- A chunk that would hold one sentence takes the next sentence of the document too. The original
  makes every one-sentence chunk a random-next pair (there is no sentence boundary to cut at), which
  on real text (long sentences, short targets) pushes the random-next share to 51.5% (per-chunk
  targets) or 53.8% (its own per-document targets) on the Gutenberg corpus, not the intended 50%.
  Only a document's last lone sentence is still forced to random next.

And one forced by streaming (see `generate.py`): the random "other document" comes from the same
block (a few MB of text), not the whole corpus.
"""

from __future__ import annotations

import bisect
import dataclasses
import random

import numpy as np


@dataclasses.dataclass
class TokenBlock:
    """Tokenized documents: `ids` (all pieces), `sentence_starts` (offsets into `ids`, one more than
    there are sentences), `document_starts` (offsets into the sentences). No sentence is empty."""

    ids: np.ndarray
    sentence_starts: np.ndarray
    document_starts: np.ndarray

    @property
    def num_documents(self) -> int:
        return len(self.document_starts) - 1


@dataclasses.dataclass
class Pairs:
    """Segment A is `ids[a_start:a_end]`, B is `ids[b_start:b_end]` (after trimming)."""

    a_start: np.ndarray
    a_end: np.ndarray
    b_start: np.ndarray
    b_end: np.ndarray
    is_random_next: np.ndarray
    short_target: np.ndarray  # the pair was made with a short (random) target length

    def __len__(self) -> int:
        return len(self.a_start)

    def take(self, order: np.ndarray) -> "Pairs":
        return Pairs(*(getattr(self, f.name)[order] for f in dataclasses.fields(self)))


def longest_first(len_a: np.ndarray, len_b: np.ndarray, budget: int) -> tuple[np.ndarray, np.ndarray]:
    """Lengths after the original's `truncate_seq_pair` (drop from the longer, B on a tie)."""
    len_a, len_b = np.asarray(len_a), np.asarray(len_b)
    half_b = budget // 2            # when both are long, B ends with floor(budget / 2) ...
    half_a = budget - half_b        # ... and A with the rest
    keep_a = np.where(len_b <= half_b, np.minimum(len_a, budget - len_b), np.minimum(len_a, half_a))
    keep_b = np.where(len_a <= half_a, np.minimum(len_b, budget - len_a), np.minimum(len_b, half_b))
    fits = len_a + len_b <= budget
    return np.where(fits, len_a, keep_a), np.where(fits, len_b, keep_b)


def make_pairs(block: TokenBlock, max_num_tokens: int, short_seq_prob: float, dupe_factor: int,
               rng: random.Random, np_rng: np.random.Generator,
               original_pairing: bool = False) -> Pairs:
    """All sentence pairs of the block for `dupe_factor` passes, trimmed to `max_num_tokens`."""
    starts = block.sentence_starts.tolist()
    docs = block.document_starts.tolist()
    num_docs = len(docs) - 1
    order = list(range(num_docs))
    rng.shuffle(order)
    out: list[tuple[int, int, int, int, bool, bool]] = []
    append = out.append
    rand = rng.random

    def randint(low: int, high: int) -> int:  # random.randint's distribution, without its call overhead
        return low + int(rand() * (high - low + 1))

    def draw_target() -> tuple[int, bool]:
        if rand() < short_seq_prob:
            return randint(2, max_num_tokens), True
        return max_num_tokens, False

    for _ in range(dupe_factor):
        for d in order:
            first, stop = docs[d], docs[d + 1]
            chunk = first
            target, short = draw_target()
            while chunk < stop:
                # the chunk ends at the first sentence that brings it to the target, or at the last one
                end = min(bisect.bisect_left(starts, starts[chunk] + target, chunk + 1, stop + 1), stop) - 1
                if end == chunk and end + 1 < stop and not original_pairing:
                    end += 1  # a one-sentence chunk would be forced to random next: take the next one too
                n = end - chunk + 1
                a_end = chunk + (randint(1, n - 1) if n >= 2 else 1)
                len_a = starts[a_end] - starts[chunk]
                if n == 1 or rand() < 0.5:
                    other = d
                    for _ in range(10):
                        other = randint(0, num_docs - 1)
                        if other != d:
                            break
                    o_first, o_stop = docs[other], docs[other + 1]
                    b_first = randint(o_first, o_stop - 1)
                    b_last = min(bisect.bisect_left(starts, starts[b_first] + target - len_a, b_first + 1,
                                                    o_stop + 1), o_stop) - 1
                    append((starts[chunk], starts[a_end], starts[b_first], starts[b_last + 1], True, short))
                    chunk = a_end  # the unused sentences go back
                else:
                    append((starts[chunk], starts[a_end], starts[a_end], starts[end + 1], False, short))
                    chunk = end + 1
                if original_pairing:
                    continue
                target, short = draw_target()
    if not out:
        empty = np.zeros(0, dtype=np.int64)
        return Pairs(empty, empty, empty, empty, np.zeros(0, bool), np.zeros(0, bool))
    a_start, a_stop, b_start, b_stop, is_random, short_target = (np.array(c) for c in zip(*out))
    len_a, len_b = a_stop - a_start, b_stop - b_start
    keep_a, keep_b = longest_first(len_a, len_b, max_num_tokens)
    front_a = np_rng.binomial(len_a - keep_a, 0.5)
    front_b = np_rng.binomial(len_b - keep_b, 0.5)
    a_start = a_start + front_a
    b_start = b_start + front_b
    return Pairs(a_start, a_start + keep_a, b_start, b_start + keep_b, is_random.astype(bool),
                 short_target.astype(bool))
