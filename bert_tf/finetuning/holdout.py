"""`--eval-fraction`: the seeded split of a training set into kept and held-out rows, shared by every task."""

from __future__ import annotations

import numpy as np


def holdout_split(count: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """`(train rows, held-out rows)`, each in file order; at least one row is held out."""
    order = np.random.default_rng(seed).permutation(count)
    cut = count - max(1, int(round(fraction * count)))
    return sorted(order[:cut].tolist()), sorted(order[cut:].tolist())
