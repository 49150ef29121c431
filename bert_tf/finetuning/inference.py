"""Run a task model over bucketed batches and put the outputs back in example order."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from bert_tf.models.encoder import ENCODER_INPUTS


def predict_in_order(model, batches: tf.data.Dataset, count: int, jit_compile: bool = False) -> dict[str, list]:
    """`{output name: [per-example array]}` for examples 0..count-1 (filler rows dropped).

    Per-token outputs keep their batch's (bucket) length; callers cut them to each example's length.
    """
    @tf.function(reduce_retracing=True, jit_compile=jit_compile)
    def forward(inputs):
        out = model(inputs, training=False)
        return out if isinstance(out, dict) else {"logits": out}

    results: dict[str, list] = {}
    for batch in batches:
        inputs = {k: batch[k] for k in ENCODER_INPUTS}
        out = {k: v.numpy() for k, v in forward(inputs).items()}
        index = batch["index"].numpy()
        keep = index >= 0
        for name, value in out.items():
            slot = results.setdefault(name, [None] * count)
            for i, row in zip(index[keep], value[keep]):
                slot[i] = np.asarray(row, np.float32)
    missing = [i for i in range(count) if results and next(iter(results.values()))[i] is None]
    if missing:
        raise RuntimeError(f"{len(missing)} examples got no prediction (first: {missing[0]})")
    return results
