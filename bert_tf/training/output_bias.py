"""Start the MLM output bias at the log frequency of each piece in the training data.

Why: the original starts the output bias at zero, so at step 0 the masked-LM softmax predicts every piece
about equally. The loss then pushes down every piece that is rarely a target, and with the output layer
tied to the word embeddings that push reaches each rare piece's embedding as `p * mean hidden state`:
the same direction for all of them. Adam normalises each row's update, so rare pieces move as far as
frequent ones, all the same way, and the word embeddings collapse onto a few directions (measured on
the quickstart's 500 steps: effective rank of the 600 most frequent SST-2 words 11, against 106 at
initialisation; see benchmarks/RESULTS.md). Starting the bias at the log unigram prior makes the first
predictions match the target frequencies already, so that systematic push is absent from the start
(effective rank 76 after the same 500 steps) and the embeddings learn from context instead.

The prior is counted from the training records themselves: the `masked_lm_ids` of real predictions
(static masks, ours or the original's files), or, for unmasked records (dynamic masking), every real
piece but the [CLS] at position 0 and the two [SEP]s, which are never prediction targets. Counts get
half a pseudo-count each (pieces never seen keep a finite, low bias) and the result is centred (the
softmax does not change; the bias stays near zero-mean like the original's).
"""

from __future__ import annotations

import numpy as np


def count_target_pieces(file_pattern: str, vocab_size: int, max_records: int = 50_000, max_seq_length: int = 128,
                        max_predictions_per_seq: int = 20) -> tuple[np.ndarray, int]:
    """How often each piece id is a prediction target in the first `max_records` records (files in
    sorted order, so every worker of a cluster counts the same); returns `(counts, records read)`."""
    from pipelines.pretraining.input_pipeline import pretraining_dataset

    dataset = pretraining_dataset(file_pattern, 1024, max_seq_length=max_seq_length,
                                  max_predictions_per_seq=max_predictions_per_seq, is_training=False,
                                  original_names=True, drop_remainder=False, repeat=False)
    counts = np.zeros(vocab_size, np.int64)
    records = 0
    for batch in dataset:
        take = min(max_records - records, int(batch["input_ids"].shape[0]))
        batch = {k: v.numpy()[:take] for k, v in batch.items()}
        if "masked_lm_ids" in batch:
            ids, real = batch["masked_lm_ids"], batch["masked_lm_weights"] > 0
        else:
            ids = batch["input_ids"]
            mask = batch["input_mask"].astype(bool)
            real = mask.copy()
            rows = np.arange(take)
            first_b = ((batch["segment_ids"] == 0) & mask).sum(axis=1)  # length of [CLS] A [SEP]
            real[:, 0] = False
            real[rows, np.maximum(first_b - 1, 0)] = False       # the [SEP] closing segment A
            real[rows, np.maximum(mask.sum(axis=1) - 1, 0)] = False  # the final [SEP]
        picked = ids[real]
        if picked.size and (picked.min() < 0 or picked.max() >= vocab_size):
            raise ValueError(f"{file_pattern}: piece id {int(picked.max())} is outside the model's vocab of "
                             f"{vocab_size}; the data was made with another vocab")
        counts += np.bincount(picked, minlength=vocab_size)
        records += take
        if records >= max_records:
            break
    return counts, records


def log_unigram_prior(counts: np.ndarray, pseudo_count: float = 0.5) -> np.ndarray:
    """Centred log probabilities of `counts` with `pseudo_count` added to every piece."""
    smoothed = counts.astype(np.float64) + pseudo_count
    log_p = np.log(smoothed / smoothed.sum())
    return (log_p - log_p.mean()).astype(np.float32)
