"""Masked-LM masking of a batch of packed sequences with numpy: the original's rule, all rows at once.

For each row (`[CLS] A [SEP] B [SEP]` then padding): the candidates are every piece but [CLS], the
two [SEP]s and padding; `budget = min(max_predictions_per_seq, max(1, round(length * masked_lm_prob)))`
(Python's and numpy's round both round half to even); candidates are taken in a random order (random
keys, argsort: the same distribution as the original's shuffle) until the budget is met. With whole
word masking a candidate is a word (a piece and the `##` pieces after it, as the original joins
them, even across the middle [SEP]), and a word that would overflow the budget is skipped. Each
chosen position becomes [MASK] with probability 0.8, stays itself 0.1, becomes a uniformly random
vocab id 0.1; with whole-word masking that choice is made once per word (the fix of the original's
issue #910) unless `per_piece_choice`. Positions come out sorted, labels are the original pieces.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass
class MaskedBatch:
    input_ids: np.ndarray            # [N, L] with the replacements applied
    masked_lm_positions: np.ndarray  # [N, P] sorted, zero-padded
    masked_lm_ids: np.ndarray        # [N, P] the original pieces
    masked_lm_weights: np.ndarray    # [N, P] float32, 1.0 for real predictions
    counts: dict[str, int]           # candidates, masked, as_mask, as_self, as_random


def mask_batch(tokens: np.ndarray, lengths: np.ndarray, candidates: np.ndarray, masked_lm_prob: float,
               max_predictions: int, vocab_size: int, mask_id: int, rng: np.random.Generator,
               is_continuation: np.ndarray | None = None, per_piece_choice: bool = False) -> MaskedBatch:
    """Mask `tokens` `[N, L]` (real `lengths`); `candidates` `[N, L]` marks the maskable positions;
    `is_continuation` (a bool per vocab id, True for `##` pieces) turns on whole-word masking."""
    n, width = tokens.shape
    rows = np.arange(n)[:, None]
    budget = np.minimum(max_predictions, np.maximum(1, np.round(lengths * masked_lm_prob).astype(np.int64)))
    if is_continuation is None:
        keys = rng.random((n, width), dtype=np.float32)
        keys[~candidates] = 2.0
        if width > max_predictions:  # only the `max_predictions` smallest keys can be chosen
            order = np.argpartition(keys, max_predictions - 1, axis=1)[:, :max_predictions]
            order = np.take_along_axis(order, np.argsort(np.take_along_axis(keys, order, axis=1), axis=1), axis=1)
        else:
            order = np.argsort(keys, axis=1)
        take = np.arange(order.shape[1]) < np.minimum(budget, candidates.sum(axis=1))[:, None]
        selected = np.zeros((n, width), dtype=bool)
        selected[np.broadcast_to(rows, order.shape)[take], order[take]] = True
        choice = rng.random((n, width), dtype=np.float32)
    else:
        selected, word_of = _whole_words(tokens, candidates, budget, is_continuation, rng)
        choice = rng.random((n, width), dtype=np.float32)
        if not per_piece_choice:
            choice = np.take_along_axis(choice, word_of, axis=1)  # every piece uses its word's draw
    # The selected positions, sorted, packed into `[n, max_predictions]` (rows hold at most that many).
    count = selected.sum(axis=1)
    rank = np.cumsum(selected, axis=1) - 1
    positions = np.zeros((n, max_predictions), dtype=np.int64)
    row_of, col_of = np.nonzero(selected)
    positions[row_of, rank[row_of, col_of]] = col_of
    valid = np.arange(max_predictions) < count[:, None]
    labels = np.where(valid, np.take_along_axis(tokens, positions, axis=1), 0)
    picked = choice[row_of, col_of]
    as_mask = picked < 0.8
    as_random = picked >= 0.9
    input_ids = tokens.copy()
    input_ids[row_of[as_mask], col_of[as_mask]] = mask_id
    input_ids[row_of[as_random], col_of[as_random]] = rng.integers(0, vocab_size, size=int(as_random.sum()))
    counts = {"candidates": int(candidates.sum()), "masked": len(row_of), "as_mask": int(as_mask.sum()),
              "as_random": int(as_random.sum())}
    counts["as_self"] = counts["masked"] - counts["as_mask"] - counts["as_random"]
    return MaskedBatch(input_ids, positions, labels, valid.astype(np.float32), counts)


def _whole_words(tokens: np.ndarray, candidates: np.ndarray, budget: np.ndarray, is_continuation: np.ndarray,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Choose whole words until each row's budget; returns the chosen positions and each position's
    word index (within its row)."""
    n, width = tokens.shape
    first_candidate = candidates & (np.cumsum(candidates, axis=1) == 1)
    starts = candidates & (~is_continuation[tokens] | first_candidate)
    word_of = np.maximum(np.cumsum(starts, axis=1) - 1, 0)
    num_words = starts.sum(axis=1)
    flat = (np.arange(n)[:, None] * width + word_of)[candidates]
    word_length = np.bincount(flat, minlength=n * width).reshape(n, width)
    keys = rng.random((n, width), dtype=np.float32)
    keys[np.arange(width) >= num_words[:, None]] = 2.0
    order = np.argsort(keys, axis=1)
    sorted_length = np.take_along_axis(word_length, order, axis=1)
    chosen_sorted = np.zeros((n, width), dtype=bool)
    total = np.zeros(n, dtype=np.int64)
    for rank in range(int(num_words.max(initial=0))):
        length = sorted_length[:, rank]
        take = (total < budget) & (length > 0) & (total + length <= budget)
        if not take.any() and (total >= budget).all():
            break
        chosen_sorted[:, rank] = take
        total += np.where(take, length, 0)
    chosen_word = np.zeros((n, width), dtype=bool)
    np.put_along_axis(chosen_word, order, chosen_sorted, axis=1)
    selected = candidates & np.take_along_axis(chosen_word, word_of, axis=1)
    return selected, word_of
