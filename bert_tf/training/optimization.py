"""The BERT optimizer recipe: AdamW as the original implements it, LAMB, and warmup-then-linear-decay.

The original's `AdamWeightDecayOptimizer` (google-research/bert `optimization.py`) differs from the
textbook AdamW in two details that matter for parity: it has no bias correction of the moments, and its
weight decay is added to the Adam update before the learning rate multiplies it (so the decay is
`lr * weight_decay * w`, decoupled from the gradient's moments). LayerNorm parameters and biases are
not decayed. Gradients are clipped to global norm 1.0 before the update. The learning rate rises
linearly from 0 over the warmup steps, then falls linearly to 0 at the last step.
"""

from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf
from keras import ops

NO_DECAY = ("layer_norm", "LayerNorm", "bias")  # substrings of variable paths that are never decayed


@keras.saving.register_keras_serializable(package="bert_tf")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """`peak * step / warmup` during warmup, then `peak * (total - step) / (total - warmup)`, 0 after."""

    def __init__(self, peak_learning_rate: float, total_steps: int, warmup_steps: int = 0):
        if total_steps < 1 or not 0 <= warmup_steps <= total_steps:
            raise ValueError(f"need 0 <= warmup_steps ({warmup_steps}) <= total_steps ({total_steps}), total >= 1")
        self.peak_learning_rate = float(peak_learning_rate)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        peak = ops.cast(self.peak_learning_rate, "float32")
        warm = ops.cast(self.warmup_steps, "float32")
        total = ops.cast(self.total_steps, "float32")
        warmup = peak * step / ops.maximum(warm, 1.0)
        decay = peak * ops.maximum(total - step, 0.0) / ops.maximum(total - warm, 1.0)
        return ops.where(step < warm, warmup, decay)

    def get_config(self):
        return {"peak_learning_rate": self.peak_learning_rate, "total_steps": self.total_steps,
                "warmup_steps": self.warmup_steps}


@keras.saving.register_keras_serializable(package="bert_tf")
class PhasedSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Phase one's schedule until `boundary`, then phase two's, counted from the boundary (each phase of a
    sequence-length schedule warms up and decays on its own, as NVIDIA's BERT recipe does)."""

    def __init__(self, first, second, boundary: int):
        self.first, self.second, self.boundary = first, second, int(boundary)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        boundary = ops.cast(self.boundary, "float32")
        return ops.where(step < boundary, self.first(step), self.second(ops.maximum(step - boundary, 0.0)))

    def get_config(self):
        return {"first": keras.saving.serialize_keras_object(self.first),
                "second": keras.saving.serialize_keras_object(self.second), "boundary": self.boundary}

    @classmethod
    def from_config(cls, config):
        return cls(keras.saving.deserialize_keras_object(config["first"]),
                   keras.saving.deserialize_keras_object(config["second"]), config["boundary"])


@keras.saving.register_keras_serializable(package="bert_tf")
class BertAdamW(keras.optimizers.Optimizer):
    """google-research/bert's `AdamWeightDecayOptimizer` as a Keras 3 optimizer.

    `m = b1 m + (1 - b1) g`, `v = b2 v + (1 - b2) g^2`, `w -= lr * (m / (sqrt(v) + eps) + wd * w)`,
    with no bias correction; `wd` is 0 for variables whose path contains one of `exclude`.

    Without bias correction the first updates are several times larger than Adam's (`(1 - b1^t) /
    sqrt(1 - b2^t)`: 3.2x at step 100, 1.3x at step 1000): the original's learning rates (1e-4 with
    10k warmup steps) absorb that, a small model at 1e-3 with short warmup does not (measured: a
    `bert_tiny` stalls at unigram accuracy). `bias_correction=True` gives Adam's moments.

    `fused=True` (the default) runs the moment and weight update of each plain (one-device) variable as
    TensorFlow's `ResourceApplyAdam` kernel, one pass over the variable instead of about ten elementwise
    ops. The arithmetic is the same: with both beta powers 0 the kernel is the original's update without
    bias correction; with them set it is Adam's, its epsilon scaled by `sqrt(1 - beta_2^t)` to sit where
    ours does; the decay `lr * wd * w` is subtracted first, which equals adding it to the update. One
    rounding differs: the kernel forms `1 - beta_2` from the float32 beta (0.999 -> 0.00099998713, a
    relative 1.3e-5, as TF1's `AdamOptimizer` did), where the elementwise path takes it in float64.
    Measured on `bert_mini` without XLA: 769 vs 793 ms a step. Distributed variables (mirrored,
    multi-worker, TPU) and sparse gradients take the elementwise path.
    """

    def __init__(self, learning_rate=1e-4, weight_decay: float = 0.01, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-6, exclude: Sequence[str] = NO_DECAY, bias_correction: bool = False,
                 fused: bool = True, name: str = "bert_adamw", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.decay_rate = float(weight_decay)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self.exclude = tuple(exclude)
        self.bias_correction = bool(bias_correction)
        self.fused = bool(fused)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._m = [self.add_variable_from_reference(v, "m") for v in var_list]
        self._v = [self.add_variable_from_reference(v, "v") for v in var_list]

    def decays(self, variable) -> bool:
        path = getattr(variable, "path", None) or variable.name
        return self.decay_rate > 0 and not any(pattern in path for pattern in self.exclude)

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        index = self._get_variable_index(variable)
        m, v = self._m[index], self._v[index]
        if self.fused and not isinstance(gradient, tf.IndexedSlices):
            plain = [_plain_variable(x) for x in (variable, m, v)]
            if all(x is not None for x in plain):
                return self._fused_update(gradient, *plain, lr)
        self.assign(m, ops.add(ops.multiply(m, self.beta_1), ops.multiply(gradient, 1.0 - self.beta_1)))
        self.assign(v, ops.add(ops.multiply(v, self.beta_2), ops.multiply(ops.square(gradient), 1.0 - self.beta_2)))
        if self.bias_correction:  # Adam's, as the Model Garden and Hugging Face use; not the original's
            t = ops.cast(self.iterations + 1, variable.dtype)
            update = ops.divide(ops.divide(m, 1.0 - ops.power(self.beta_1, t)),
                                ops.add(ops.sqrt(ops.divide(v, 1.0 - ops.power(self.beta_2, t))), self.epsilon))
        else:
            update = ops.divide(m, ops.add(ops.sqrt(v), self.epsilon))
        if self.decays(variable):
            update = ops.add(update, ops.multiply(variable, self.decay_rate))
        self.assign_sub(variable, ops.multiply(update, lr))

    def _fused_update(self, gradient, variable, m, v, lr):
        dtype = variable.dtype
        if self.decays(variable):
            variable.assign_sub(variable * (lr * self.decay_rate))
        epsilon = tf.constant(self.epsilon, dtype)
        beta_1_power = beta_2_power = tf.constant(0.0, dtype)
        if self.bias_correction:
            t = tf.cast(self.iterations + 1, dtype)
            beta_1_power, beta_2_power = tf.pow(tf.cast(self.beta_1, dtype), t), tf.pow(tf.cast(self.beta_2, dtype), t)
            epsilon = epsilon * tf.sqrt(1.0 - beta_2_power)
        tf.raw_ops.ResourceApplyAdam(var=variable.handle, m=m.handle, v=v.handle, beta1_power=beta_1_power,
                                     beta2_power=beta_2_power, lr=lr, beta1=tf.constant(self.beta_1, dtype),
                                     beta2=tf.constant(self.beta_2, dtype), epsilon=epsilon, grad=gradient)

    def get_config(self):
        config = super().get_config()
        config.update(weight_decay=self.decay_rate, beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon,
                      exclude=list(self.exclude), bias_correction=self.bias_correction, fused=self.fused)
        return config


def _plain_variable(variable):
    """The one-device `tf.Variable` behind a Keras or TensorFlow variable, or None when it is distributed."""
    value = variable.value if isinstance(variable, keras.Variable) else variable
    if (not isinstance(value, tf.Variable) or isinstance(value, tf.distribute.DistributedValues)
            or hasattr(value, "_distributed_container")):
        return None
    return value


def create_optimizer(name: str = "adamw", learning_rate: float = 1e-4, total_steps: int = 1000,
                     warmup_steps: int = 0, weight_decay: float = 0.01, max_grad_norm: float | None = 1.0,
                     epsilon: float = 1e-6, gradient_accumulation_steps: int | None = None,
                     schedule: keras.optimizers.schedules.LearningRateSchedule | None = None,
                     bias_correction: bool = False) -> keras.optimizers.Optimizer:
    """The recipe's optimizer with its schedule: `adamw` (the original's) or `lamb` (Keras' LAMB, the
    same decay exclusions). `gradient_accumulation_steps` is Keras' own accumulation, for `model.fit`
    (the custom loop accumulates exactly instead; see `loop.py`). `schedule` replaces the default
    warmup-then-decay (e.g. a `PhasedSchedule`)."""
    schedule = schedule or WarmupLinearDecay(learning_rate, total_steps, warmup_steps)
    common = dict(global_clipnorm=max_grad_norm, gradient_accumulation_steps=gradient_accumulation_steps)
    if name == "adamw":
        return BertAdamW(schedule, weight_decay=weight_decay, epsilon=epsilon, bias_correction=bias_correction,
                         **common)
    if name == "lamb":
        optimizer = keras.optimizers.Lamb(schedule, beta_1=0.9, beta_2=0.999, epsilon=epsilon,
                                          weight_decay=weight_decay or None, **common)
        optimizer.exclude_from_weight_decay(var_names=list(NO_DECAY))
        return optimizer
    raise ValueError(f"unknown optimizer {name!r}; choose adamw or lamb")
