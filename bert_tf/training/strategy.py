"""Pick and build the `tf.distribute` strategy: TPU, multi-worker, mirrored or one device.

`auto` takes a TPU when a resolver finds one (a Cloud TPU VM, or `--tpu NAME`), mirrored when there is
more than one GPU, else one device. `multi_worker` reads the cluster from `TF_CONFIG` (set by the
launcher: Kubernetes, a recipe script, or the test that starts two workers on loopback).
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker", "tpu")


def _tpu_resolver(tpu: str | None):
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "")
        resolver.cluster_spec()  # raises when there is no TPU to talk to
        return resolver
    except (ValueError, RuntimeError, tf.errors.OpError):
        return None


def make_strategy(name: str = "auto", tpu: str | None = None) -> tf.distribute.Strategy:
    """The strategy called `name` (see `STRATEGIES`)."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    if name in ("tpu", "auto") and (name == "tpu" or tpu or os.environ.get("TPU_NAME")):
        resolver = _tpu_resolver(tpu)
        if resolver is not None:
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
            return tf.distribute.TPUStrategy(resolver)
        if name == "tpu":
            raise RuntimeError(f"no TPU found (--tpu {tpu!r}); on a Cloud TPU VM pass --tpu local or the TPU name")
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise RuntimeError("--strategy multi_worker needs TF_CONFIG (the cluster and this worker's index)")
        json.loads(os.environ["TF_CONFIG"])  # a clear JSON error before TF's own
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "mirrored" or (name == "auto" and len(gpus) > 1):
        if not gpus:
            # Several CPU devices: reduce on one device. The default collective all-reduce keys its instances
            # per process, and a second MirroredStrategy in the same process (another fine-tuning run, a test)
            # then meets "Shape mismatch in the collective instance".
            return tf.distribute.MirroredStrategy(cross_device_ops=tf.distribute.ReductionToOneDevice())
        return tf.distribute.MirroredStrategy()
    device = gpus[0].name if gpus else tf.config.list_logical_devices("CPU")[0].name
    return tf.distribute.OneDeviceStrategy(device)
