"""Side-by-side throughput of `bert_tf.BertEncoder` and `keras_hub.models.BertBackbone`, in one run.

What is measured, per preset and per XLA setting, in tokens/s (batch * seq_length / seconds per step):

- forward: `tf.function(jit_compile=xla)` calling the model with `training=False` (inference, no dropout);
- train: `tf.function(jit_compile=xla)` doing a forward pass with `training=True` (dropout on), the scalar
  loss `mean(sequence_output**2) + mean(pooled_output**2)`, gradients from `tf.GradientTape` and
  `keras.optimizers.Adam.apply_gradients` over all trainable variables.

Fair-comparison choices:

- Same architecture: vocab 30522, 512 positions, 2 segments, intermediate 4H, dropout 0.1, LayerNorm eps
  1e-12, post-LN, tanh pooler on [CLS]. Parameter counts are printed and must be equal.
- Same activation: keras-hub hard-codes the tanh GELU approximation, ours defaults to the exact erf GELU of
  the released checkpoints. By default ours is built with `hidden_act="gelu_tanh"` so only the implementation
  differs; `--hidden-act gelu` measures our default instead.
- Same inputs (random ids, [CLS] first, random lengths so some rows are padded, two segments), same loss,
  same optimizer type with its slots built before timing, float32 weights and compute for both.
- Warm-up (tracing and XLA compilation) is excluded. Timed trials alternate between the two models, and the
  order flips every trial, so machine noise and thermal drift hit both equally; each model's score is the
  median of its per-trial step times. This VM's speed drifts by more than the differences measured, so the
  ratio is also given two other ways: from each side's fastest trial (noise only ever adds time) and from CPU
  seconds per step (the process's CPU time, which leaves out time the hypervisor took the cores away).
- TensorFlow threading is left at its defaults (0 = let TF decide); nothing is pinned.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Callable

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bert_tf import BertConfig, BertEncoder  # noqa: E402

# Steps per trial and trials per measurement, chosen so the default run (tiny, small, base; XLA on and
# off; forward and train) stays around 10 minutes on 2 CPU cores. `--steps` / `--trials` override them.
DEFAULT_STEPS = {"bert_tiny": 10, "bert_small": 3, "bert_base": 2}
DEFAULT_TRIALS = {"bert_tiny": 5, "bert_small": 5, "bert_base": 3}

Batch = dict[str, tf.Tensor]
Step = Callable[[], tf.Tensor]


@dataclass
class Row:
    preset: str
    xla: bool
    mode: str
    ours: float  # tokens/s, from the median trial
    theirs: float
    fastest_ratio: float  # ours/theirs from each side's fastest trial
    cpu_ratio: float  # ours/theirs in tokens per CPU second (median trial)

    @property
    def cells(self) -> list[str]:
        return [self.preset, "on" if self.xla else "off", self.mode, f"{self.ours:,.0f}",
                f"{self.theirs:,.0f}", f"{self.ours / self.theirs:.2f}", f"{self.fastest_ratio:.2f}",
                f"{self.cpu_ratio:.2f}"]


HEADER = ["preset", "xla", "mode", "ours tok/s", "keras-hub tok/s", "ratio ours/theirs", "ratio, fastest trials",
          "ratio, CPU time"]


def make_inputs(batch: int, seq: int, vocab: int, seed: int = 0) -> tuple[Batch, Batch]:
    """The same random batch in our input names and in keras-hub's."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(seq // 2, seq + 1, size=batch)
    lengths[0] = seq  # at least one full row
    positions = np.arange(seq)[None, :]
    mask = (positions < lengths[:, None]).astype("int32")
    ids = rng.integers(1000, vocab, size=(batch, seq)).astype("int32")
    ids[:, 0] = 101  # [CLS]
    ids *= mask  # [PAD] = 0
    segments = ((positions >= (lengths[:, None] // 2)) * mask).astype("int32")
    ours = {"input_word_ids": ids, "input_mask": mask, "input_type_ids": segments}
    theirs = {"token_ids": ids, "padding_mask": mask, "segment_ids": segments}
    return ({k: tf.constant(v) for k, v in ours.items()}, {k: tf.constant(v) for k, v in theirs.items()})


def build_models(preset: str, hidden_act: str) -> tuple[keras.Model, keras.Model]:
    cfg = BertConfig.from_preset(preset)
    ours = BertEncoder.from_preset(preset, hidden_act=hidden_act)
    theirs = keras_hub.models.BertBackbone(
        vocabulary_size=cfg.vocab_size, num_layers=cfg.num_hidden_layers,
        num_heads=cfg.num_attention_heads, hidden_dim=cfg.hidden_size,
        intermediate_dim=cfg.intermediate_size, dropout=cfg.hidden_dropout_prob,
        max_sequence_length=cfg.max_position_embeddings, num_segments=cfg.type_vocab_size)
    return ours, theirs


def forward_step(model: keras.Model, inputs: Batch, xla: bool) -> Step:
    @tf.function(jit_compile=xla)
    def step() -> tf.Tensor:
        out = model(inputs, training=False)
        # Reduce over everything so no compiler can prune part of the batch; costs the same for both.
        return tf.reduce_sum(out["sequence_output"]) + tf.reduce_sum(out["pooled_output"])
    return step


def train_step(model: keras.Model, inputs: Batch, xla: bool) -> Step:
    optimizer = keras.optimizers.Adam(learning_rate=1e-5)
    optimizer.build(model.trainable_variables)  # slots exist before tracing, for both models

    @tf.function(jit_compile=xla)
    def step() -> tf.Tensor:
        with tf.GradientTape() as tape:
            out = model(inputs, training=True)
            loss = (tf.reduce_mean(tf.square(out["sequence_output"]))
                    + tf.reduce_mean(tf.square(out["pooled_output"])))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss
    return step


@dataclass
class Timing:
    median_s: float  # wall seconds per step, median trial
    fastest_s: float  # wall seconds per step, fastest trial
    cpu_s: float  # process CPU seconds per step, median trial


def time_pair(ours: Step, theirs: Step, steps: int, trials: int, warmup: int) -> tuple[Timing, Timing]:
    """Seconds per step of each, from trials that alternate between them (order flips per trial)."""
    for fn in (ours, theirs):
        for _ in range(warmup):
            fn().numpy()
    wall: dict[int, list[float]] = {0: [], 1: []}
    cpu: dict[int, list[float]] = {0: [], 1: []}
    fns = (ours, theirs)
    for trial in range(trials):
        for i in ((0, 1) if trial % 2 == 0 else (1, 0)):
            start, start_cpu = time.perf_counter(), time.process_time()
            for _ in range(steps):
                result = fns[i]()
            result.numpy()  # wait for the last step
            wall[i].append((time.perf_counter() - start) / steps)
            cpu[i].append((time.process_time() - start_cpu) / steps)
    return tuple(Timing(statistics.median(wall[i]), min(wall[i]), statistics.median(cpu[i])) for i in (0, 1))


def explain_param_gap(ours: keras.Model, theirs: keras.Model) -> str:
    def shapes(model: keras.Model) -> list[tuple[int, ...]]:
        return sorted(tuple(v.shape) for v in model.weights)
    a, b = shapes(ours), shapes(theirs)
    only_ours = [s for s in a if s not in b]
    only_theirs = [s for s in b if s not in a]
    return f"weight shapes only in ours: {only_ours[:8]}; only in keras-hub: {only_theirs[:8]}"


def format_table(rows: list[Row], markdown: bool) -> str:
    cells = [HEADER] + [r.cells for r in rows]
    if markdown:
        lines = ["| " + " | ".join(c) + " |" for c in cells]
        lines.insert(1, "|" + "|".join("---" if i < 3 else "---:" for i in range(len(HEADER))) + "|")
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in cells) for i in range(len(HEADER))]
    return "\n".join("  ".join(c.rjust(w) if i >= 3 else c.ljust(w) for i, (c, w) in
                               enumerate(zip(row, widths))) for row in cells)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--presets", default="bert_tiny,bert_small,bert_base",
                   help="comma-separated presets (default: %(default)s)")
    p.add_argument("--xla", choices=("both", "on", "off"), default="both")
    p.add_argument("--modes", default="forward,train", help="comma-separated: forward, train")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--seq-length", type=int, default=128)
    p.add_argument("--steps", type=int, default=None,
                   help=f"timed steps per trial (default per preset: {DEFAULT_STEPS})")
    p.add_argument("--trials", type=int, default=None,
                   help=f"alternating trials per model (default per preset: {DEFAULT_TRIALS})")
    p.add_argument("--warmup", type=int, default=1,
                   help="untimed calls per model before timing; the first traces and compiles (default 1)")
    p.add_argument("--hidden-act", default="gelu_tanh",
                   help="our activation; gelu_tanh matches keras-hub (default), gelu is our exact default")
    p.add_argument("--markdown", metavar="PATH", help="also write the table (and command) as markdown")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    command = shlex.join([os.path.relpath(sys.executable), *sys.argv])
    print(f"command: {command}")
    tf.config.threading.set_intra_op_parallelism_threads(0)  # TF defaults, nothing pinned
    tf.config.threading.set_inter_op_parallelism_threads(0)
    keras.utils.set_random_seed(0)
    env = (f"tensorflow {tf.__version__}, keras {keras.__version__}, keras-hub {keras_hub.__version__}, "
           f"{os.cpu_count()} CPUs, devices {[d.device_type for d in tf.config.list_logical_devices()]}")
    print(env)
    presets = [s.strip() for s in args.presets.split(",") if s.strip()]
    modes = [s.strip() for s in args.modes.split(",") if s.strip()]
    if bad := set(modes) - {"forward", "train"}:
        raise SystemExit(f"unknown mode(s): {', '.join(sorted(bad))}")
    xlas = {"both": [False, True], "on": [True], "off": [False]}[args.xla]
    tokens = args.batch_size * args.seq_length
    print(f"batch {args.batch_size} x seq {args.seq_length} = {tokens} tokens/step, our hidden_act "
          f"{args.hidden_act!r} (keras-hub: tanh GELU)\n")

    rows: list[Row] = []
    notes: list[str] = []
    for preset in presets:
        ours, theirs = build_models(preset, args.hidden_act)
        n_ours, n_theirs = ours.count_params(), theirs.count_params()
        line = f"{preset}: parameters ours {n_ours:,}, keras-hub {n_theirs:,}"
        if n_ours != n_theirs:
            line += f" (DIFFERENT: {explain_param_gap(ours, theirs)})"
            notes.append(line)
        print(line)
        our_inputs, their_inputs = make_inputs(args.batch_size, args.seq_length, ours.bert_config.vocab_size)
        steps = args.steps or DEFAULT_STEPS.get(preset, 2)
        trials = args.trials or DEFAULT_TRIALS.get(preset, 3)
        for xla in xlas:
            for mode in modes:
                make = forward_step if mode == "forward" else train_step
                t0 = time.perf_counter()
                a, b = time_pair(make(ours, our_inputs, xla), make(theirs, their_inputs, xla),
                                 steps, trials, args.warmup)
                row = Row(preset, xla, mode, tokens / a.median_s, tokens / b.median_s,
                          b.fastest_s / a.fastest_s, b.cpu_s / a.cpu_s)
                rows.append(row)
                print(f"  xla {'on ' if xla else 'off'} {mode:<7} ours {a.median_s * 1e3:8.1f} ms/step, "
                      f"keras-hub {b.median_s * 1e3:8.1f} ms/step, ratio {row.ours / row.theirs:.2f} "
                      f"(fastest {row.fastest_ratio:.2f}, CPU {row.cpu_ratio:.2f}; {steps} steps x {trials} trials, "
                      f"{time.perf_counter() - t0:.0f}s)")
        del ours, theirs
        keras.backend.clear_session()

    print("\n" + format_table(rows, markdown=False))
    print(f"\nratio > 1: ours is faster. Total wall time {time.perf_counter() - started:.0f}s.")
    for note in notes:
        print(f"note: {note}")
    if args.markdown:
        text = (f"# BertEncoder vs keras-hub BertBackbone\n\nCommand: `{command}`\n\n{env}\n\n"
                f"{format_table(rows, markdown=True)}\n\nTokens/s = batch x seq / median step time; "
                f"ratio > 1 means bert-tf is faster (by the median trial, the fastest trials, CPU time). "
                f"See the docstring of `benchmarks/bench_encoder.py` "
                f"for what is measured.\n" + "".join(f"\nNote: {n}\n" for n in notes))
        os.makedirs(os.path.dirname(os.path.abspath(args.markdown)), exist_ok=True)
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"wrote {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
