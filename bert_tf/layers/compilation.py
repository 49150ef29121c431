"""Whether the ops being built now go into an XLA computation.

Some computations have a cheaper form under XLA (which fuses elementwise chains and has fast Threefry
random numbers) and another without it (where one fused TensorFlow kernel beats several separate ops).
Layers ask this at trace time and build the matching form; both compute the same thing.
"""

from __future__ import annotations

import tensorflow as tf


def building_for_xla() -> bool:
    """True inside `tf.function(jit_compile=True)` (and a TPU computation), False elsewhere and eagerly."""
    try:
        from tensorflow.python.ops import control_flow_util
        return bool(control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()))
    except (ImportError, AttributeError):  # a TensorFlow without this internal helper: assume no XLA
        return False
