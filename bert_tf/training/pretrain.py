"""`bert-tf pretrain`: preflight, strategy, model, data, the loop, checkpoints, logs and the final export.

The run directory holds `bert_config.json` (a run directory is tied to one model shape: another
config is refused), `checkpoints/` (`tf.train.CheckpointManager`: model, optimizer and its step,
written under temporary names by TensorFlow and listed only once whole; the last N kept),
`metrics.jsonl` (one JSON object per logged step), `logs/` (TensorBoard) and, at the end,
`export/encoder` (bert-tf format) and `export/google` (the original checkpoint layout).

A killed run re-run with the same command restores the latest checkpoint and continues at its step,
with the same learning rate (the schedule is a function of the step) and the data reshuffled from a
seed that includes the step (the position in the data is approximate, as in every tf.data job).
What the kill left is removed first: TensorFlow's temporary checkpoint files, and the rows of
`metrics.jsonl` past the restored step (they are trained again), so no step is logged twice.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from typing import Any, Callable

import numpy as np
import tensorflow as tf

from bert_tf import jsonl_log, storage
from bert_tf.training.errors import DataError, DivergedError, PreflightError


@dataclasses.dataclass
class PretrainOptions:
    config: str
    input: str
    model_dir: str
    train_batch_size: int = 32
    num_train_steps: int = 1000
    learning_rate: float = 1e-4
    warmup_steps: int = 100
    optimizer: str = "adamw"
    adam_bias_correction: bool = False  # the original's AdamW has none
    adam_epsilon: float = 1e-6  # the original's; larger damps the updates of rarely seen pieces (see quickstart)
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    gradient_accumulation_steps: int = 1
    mixed_precision: str = "float32"
    jit_compile: bool = False
    steps_per_loop: int = 100
    save_checkpoints_steps: int = 1000
    keep_checkpoints: int = 5
    eval_input: str | None = None
    eval_steps: int = 100
    eval_batch_size: int | None = None
    init_checkpoint: str | None = None
    output_bias_prior: bool = False  # MLM output bias starts at the data's log piece frequencies (output_bias.py)
    strategy: str = "auto"
    tpu: str | None = None
    max_seq_length: int = 128
    max_predictions_per_seq: int = 20
    seed: int = 12345
    export: bool = True
    phase2_input: str | None = None  # a second phase, usually longer sequences, after num_train_steps
    phase2_steps: int = 0
    phase2_max_seq_length: int = 512
    phase2_max_predictions_per_seq: int = 80
    phase2_learning_rate: float | None = None  # default: --learning-rate
    phase2_warmup_steps: int | None = None  # default: --warmup-steps
    phase2_train_batch_size: int | None = None  # default: --train-batch-size

    def phases(self) -> list[tuple[str, str, int, int, int, int]]:
        """(flag, pattern, last step, sequence length, predictions, global batch) of each phase."""
        phases = [("--input", self.input, self.num_train_steps, self.max_seq_length, self.max_predictions_per_seq,
                   self.train_batch_size)]
        if self.phase2_input and self.phase2_steps > 0:
            phases.append(("--phase2-input", self.phase2_input, self.num_train_steps + self.phase2_steps,
                           self.phase2_max_seq_length, self.phase2_max_predictions_per_seq,
                           self.phase2_train_batch_size or self.train_batch_size))
        return phases


def load_config(config: str):
    """A preset name or a `bert_config.json` path."""
    from bert_tf.config import BertConfig
    from bert_tf.presets import PRESETS
    if config in PRESETS:
        return BertConfig.from_preset(config)
    if os.path.exists(config):
        return BertConfig.from_json_file(config)
    raise PreflightError(f"--config {config!r} is neither a preset ({', '.join(PRESETS)}) nor a file")


def _data_manifest(pattern: str) -> dict | None:
    from pipelines.pretraining.input_pipeline import has_records, list_files
    try:
        files = list_files(pattern)
    except FileNotFoundError as e:
        raise PreflightError(str(e)) from None
    nonempty = False
    for path in files:
        try:
            nonempty = has_records(path) or nonempty
        except tf.errors.DataLossError as e:
            raise PreflightError(f"{path} is corrupt ({str(e).strip().splitlines()[0]}); remake or remove it") from None
    if not nonempty:
        raise PreflightError(f"no records in {pattern!r}: every file is empty")
    path = os.path.join(os.path.dirname(files[0]), "manifest.json")
    if tf.io.gfile.exists(path):
        with tf.io.gfile.GFile(path) as f:
            return json.load(f)
    return None


def preflight(options: PretrainOptions, config) -> dict | None:
    """Check the data, flags, config and run directory agree before any step; returns the data manifest."""
    problems = []
    if options.strategy == "tpu" or options.tpu:
        local = [name for name, path in (("--input", options.input), ("--model-dir", options.model_dir),
                                          ("--eval-input", options.eval_input)) if path and not path.startswith("gs://")]
        if local:
            problems.append(f"on TPU every path must be gs:// (the TPU workers cannot read this machine): {', '.join(local)}")
    if options.num_train_steps < 1:
        problems.append(f"--num-train-steps must be at least 1 (got {options.num_train_steps})")
    elif not 0 <= options.warmup_steps <= options.num_train_steps:
        problems.append(f"--warmup-steps {options.warmup_steps} must be between 0 and --num-train-steps "
                        f"{options.num_train_steps}; pass a smaller --warmup-steps")
    manifests = {}
    checks = [(flag, pattern, seq, pred, batch) for flag, pattern, _, seq, pred, batch in options.phases()]
    if options.eval_input:
        checks.append(("--eval-input", options.eval_input, options.max_seq_length, options.max_predictions_per_seq,
                       options.train_batch_size))
    prefix = {"--input": "", "--phase2-input": "--phase2", "--eval-input": ""}
    for flag, pattern, seq, pred, batch in checks:
        if batch % options.gradient_accumulation_steps:
            problems.append(f"the {flag} phase's batch {batch} is not divisible by "
                            f"--gradient-accumulation-steps {options.gradient_accumulation_steps}")
        if seq > config.max_position_embeddings:
            problems.append(f"{prefix[flag]}--max-seq-length {seq} exceeds the config's max_position_embeddings "
                            f"{config.max_position_embeddings}")
        manifest = manifests[flag] = _data_manifest(pattern)
        if manifest is None:
            continue
        data = manifest["options"]
        if manifest["vocab"].get("size") not in (None, config.vocab_size):
            problems.append(f"{flag}: the data was made with a vocab of {manifest['vocab']['size']} pieces "
                            f"({manifest['vocab']['file']}) but the config's vocab_size is {config.vocab_size}")
        for key, value, flag_name in (("max_seq_length", seq, f"{prefix[flag]}--max-seq-length"),
                                      ("max_predictions_per_seq", pred, f"{prefix[flag]}--max-predictions-per-seq")):
            if data[key] != value:
                problems.append(f"{flag}: the data has {key} {data[key]} but {flag_name.replace('----', '--')} is {value}")
    saved = os.path.join(options.model_dir, "bert_config.json")
    if tf.io.gfile.exists(saved):
        with tf.io.gfile.GFile(saved) as f:
            previous = json.load(f)
        if previous != json.loads(config.to_json_string()):
            changed = sorted(k for k in previous if previous.get(k) != json.loads(config.to_json_string()).get(k))
            problems.append(f"{options.model_dir} holds a run of another model ({', '.join(changed)} differ); "
                            "choose another --model-dir")
    if problems:
        raise PreflightError("; ".join(problems))
    return manifests


def _dataset_fn(options: PretrainOptions, pattern: str, global_batch: int, manifest: dict | None, training: bool,
                seed: int, seq: int | None = None, pred: int | None = None):
    seq = seq or options.max_seq_length
    pred = pred or options.max_predictions_per_seq
    from pipelines.pretraining.input_pipeline import DynamicMasking, pretraining_dataset
    masking = None
    if manifest is not None and manifest["options"].get("dynamic_masking"):
        v = manifest["vocab"]
        masking = DynamicMasking(v["size"], v["mask_id"], v["cls_id"], v["sep_id"], v["pad_id"],
                                 manifest["options"]["masked_lm_prob"], pred)

    def make(context):
        return pretraining_dataset(pattern, global_batch, max_seq_length=seq, max_predictions_per_seq=pred,
                                   is_training=training,
                                   repeat=True, input_context=context, seed=seed, dynamic_masking=masking)
    return make


def run_pretraining(options: PretrainOptions, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train (or resume) per `options`; returns the last logged figures."""
    import keras

    from bert_tf.models import BertEncoder, BertPretrainer
    from bert_tf.training.loop import PretrainingLoop
    from bert_tf.training.optimization import PhasedSchedule, WarmupLinearDecay, create_optimizer
    from bert_tf.training.strategy import make_strategy

    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    # MultiWorkerMirroredStrategy must configure the runtime before any TensorFlow op runs, and the
    # preflight reads the data with ops: make it first. Other strategies after the preflight, so that a
    # wrong flag or path is reported before a TPU is looked for.
    strategy = make_strategy(options.strategy, options.tpu) if options.strategy == "multi_worker" else None
    config = load_config(options.config)
    manifests = preflight(options, config)
    strategy = strategy or make_strategy(options.strategy, options.tpu)
    replicas = strategy.num_replicas_in_sync
    for flag, _, _, _, _, batch in options.phases():
        if (batch // options.gradient_accumulation_steps) % replicas:
            raise PreflightError(f"the {flag} phase's per-step batch {batch // options.gradient_accumulation_steps} "
                                 f"does not split over {replicas} replicas")
    if options.mixed_precision not in ("float32", "mixed_bfloat16", "mixed_float16"):
        raise PreflightError(f"--mixed-precision {options.mixed_precision!r}: choose float32, mixed_bfloat16 "
                             "or mixed_float16")
    keras.mixed_precision.set_dtype_policy(options.mixed_precision)
    chief, worker_name = _chief_or_worker(strategy)
    # Every worker saves checkpoints (a save takes part in the workers' collectives), but only the chief
    # into the run directory; the others into their own folder, from which nothing is ever restored.
    # All workers restore the chief's latest checkpoint, so a restarted cluster goes on in step.
    write_dir = options.model_dir if chief else os.path.join(options.model_dir, "workers", worker_name)
    tf.io.gfile.makedirs(write_dir)
    _remove_leftovers_of_a_killed_run(write_dir, log)
    if chief:
        storage.write_text_atomic(os.path.join(options.model_dir, "bert_config.json"), config.to_json_string())
    phases = options.phases()
    total_steps = phases[-1][2]

    with strategy.scope():
        if options.init_checkpoint:
            from bert_tf.checkpoints import load_encoder
            encoder = load_encoder(options.init_checkpoint)
        else:
            encoder = BertEncoder.from_bert_config(config)
        model = BertPretrainer(encoder)
        schedule = WarmupLinearDecay(options.learning_rate, options.num_train_steps, options.warmup_steps)
        if len(phases) > 1:
            schedule = PhasedSchedule(schedule, WarmupLinearDecay(
                options.phase2_learning_rate or options.learning_rate, options.phase2_steps,
                options.warmup_steps if options.phase2_warmup_steps is None else options.phase2_warmup_steps),
                boundary=options.num_train_steps)
        optimizer = create_optimizer(options.optimizer, weight_decay=options.weight_decay, max_grad_norm=None,
                                     schedule=schedule, bias_correction=options.adam_bias_correction,
                                     epsilon=options.adam_epsilon)
        if options.mixed_precision == "mixed_float16":  # dynamic loss scaling, saved in the checkpoints
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        optimizer.build(model.trainable_variables)
        loop = PretrainingLoop(model, optimizer, strategy, accumulation_steps=options.gradient_accumulation_steps,
                               jit_compile=options.jit_compile, max_grad_norm=options.max_grad_norm)
        checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
        manager = tf.train.CheckpointManager(checkpoint, os.path.join(write_dir, "checkpoints"),
                                             max_to_keep=options.keep_checkpoints if chief else 1)
        latest = tf.train.latest_checkpoint(os.path.join(options.model_dir, "checkpoints"))
        if latest:
            checkpoint.restore(latest).assert_existing_objects_matched()
        elif options.output_bias_prior:
            _start_output_bias_at_prior(model, options, phases[0][1], log)
    step = int(optimizer.iterations.numpy())
    if step:
        log(f"resumed from {latest} at step {step}")
    if step >= total_steps:
        log(f"already at step {step} of {total_steps}; nothing to train")

    metrics_path = os.path.join(write_dir, "metrics.jsonl")
    jsonl_log.drop_rows_after_step(metrics_path, step)
    writer = tf.summary.create_file_writer(os.path.join(write_dir, "logs"))
    last: dict[str, Any] = {"step": step}
    start = time.time()
    for phase, (flag, pattern, end, seq, pred, batch) in enumerate(phases, start=1):
        if step >= end:
            continue
        if len(phases) > 1:
            log(f"phase {phase}: {pattern}, sequence length {seq}, batch {batch}, until step {end}")
        dataset = strategy.distribute_datasets_from_function(_dataset_fn(
            options, pattern, batch // options.gradient_accumulation_steps, manifests.get(flag), True,
            options.seed + step, seq, pred))
        iterator = iter(dataset)
        while step < end:
            to_save = options.save_checkpoints_steps - step % options.save_checkpoints_steps
            n = min(options.steps_per_loop, end - step, to_save)
            begin = time.perf_counter()
            try:
                figures = loop.train(iterator, n)
            except tf.errors.DataLossError as e:
                raise DataError(_name_corrupt_file(pattern, e, manager.latest_checkpoint)) from None
            seconds = time.perf_counter() - begin
            step += n
            if not all(math.isfinite(figures[k]) for k in ("loss", "mlm_loss", "nsp_loss")):
                raise DivergedError(f"the loss is {figures['loss']} at step {step}; stopped without saving, the last "
                                    f"good checkpoint is {manager.latest_checkpoint or '(none yet)'}. Try a lower "
                                    "--learning-rate, more --warmup-steps or --max-grad-norm 1.0")
            learning_rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
            last = {"step": step, "phase": phase, **{k: round(v, 6) for k, v in figures.items() if k != "examples"},
                    "learning_rate": learning_rate, "examples_per_second": round(figures["examples"] / seconds, 2),
                    "elapsed_s": round(time.time() - start, 2)}
            jsonl_log.append_row(metrics_path, last)
            with writer.as_default(step=step):
                for key in ("loss", "mlm_loss", "nsp_loss", "mlm_accuracy", "nsp_accuracy", "learning_rate",
                            "examples_per_second"):
                    tf.summary.scalar(key, last[key])
            log(f"step {step}/{total_steps}  loss {last['loss']:.4f}  mlm_acc {last['mlm_accuracy']:.4f}  "
                f"nsp_acc {last['nsp_accuracy']:.4f}  lr {learning_rate:.3g}  {last['examples_per_second']:,.0f} seq/s")
            if step % options.save_checkpoints_steps == 0 or step == end:
                manager.save(checkpoint_number=step)
    writer.flush()
    if options.eval_input:
        last.update({f"eval_{k}": v for k, v in evaluate(options, model, strategy, loop).items()})
        log("eval: " + "  ".join(f"{k} {v:.4f}" for k, v in last.items() if k.startswith("eval_")))
    if options.export and chief:
        _export(model, options.model_dir, _data_vocab(options.input))
    last["weights_sha256"] = weights_fingerprint(model)
    storage.write_text_atomic(os.path.join(write_dir, "summary.json"), json.dumps(last, indent=1) + "\n")
    return last


def _start_output_bias_at_prior(model, options: PretrainOptions, pattern: str, log: Callable[[str], None]) -> None:
    """`--output-bias-prior`: the MLM output bias starts at the data's log piece frequencies
    (`output_bias.py` says why); a resumed run restores its trained bias instead."""
    from bert_tf.training.output_bias import count_target_pieces, log_unigram_prior
    counts, records = count_target_pieces(pattern, model.masked_lm.vocab_size, max_seq_length=options.max_seq_length,
                                          max_predictions_per_seq=options.max_predictions_per_seq)
    model.masked_lm.output_bias.assign(log_unigram_prior(counts))
    log(f"output bias: log piece frequencies of {int(counts.sum()):,} targets in {records:,} records "
        f"({int((counts > 0).sum()):,} of {len(counts):,} pieces seen)")


def weights_fingerprint(model) -> str:
    """sha256 over every weight's bytes, in order: equal on all workers of a synchronous run."""
    import hashlib
    digest = hashlib.sha256()
    for variable in model.weights:
        digest.update(np.ascontiguousarray(variable.numpy()).tobytes())
    return digest.hexdigest()


def _chief_or_worker(strategy) -> tuple[bool, str]:
    """Whether this process writes the run directory, and its name in the cluster ("worker-1")."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return True, "chief"
    task_type, task_id = resolver.task_type, resolver.task_id
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    chief = task_type == "chief" or (task_type == "worker" and task_id == 0 and not has_chief)
    return chief, f"{task_type}-{task_id}"


def evaluate(options: PretrainOptions, model, strategy, loop) -> dict[str, float]:
    batch = options.eval_batch_size or options.train_batch_size // options.gradient_accumulation_steps
    manifest = _data_manifest(options.eval_input)
    dataset = strategy.distribute_datasets_from_function(
        _dataset_fn(options, options.eval_input, batch, manifest, False, options.seed))
    figures = loop.evaluate(iter(dataset), options.eval_steps)
    return {k: v for k, v in figures.items() if k != "examples"}


def _data_vocab(pattern: str) -> str | None:
    """The vocab the training data was made with (from its manifest), when it is still there."""
    manifest = _data_manifest(pattern)
    path = ((manifest or {}).get("vocab") or {}).get("file")
    return path if path and os.path.isfile(path) else None


def _export(model, model_dir: str, vocab_file: str | None = None) -> None:
    """The encoder in our format and in Google's, each with the data's vocab so fine-tuning can start from it."""
    from bert_tf.checkpoints.google import write_google_checkpoint
    from bert_tf.checkpoints.loading import original_weights
    from bert_tf.checkpoints.native import save_native
    save_native(model.encoder, os.path.join(model_dir, "export", "encoder"), vocab_file=vocab_file, overwrite=True)
    write_google_checkpoint(os.path.join(model_dir, "export", "google"), model.bert_config, original_weights(model),
                            vocab_file=vocab_file, overwrite=True)


def _name_corrupt_file(pattern: str, error: Exception, checkpoint: str | None) -> str:
    """TensorFlow's DataLossError does not say which file; read each one to find it."""
    from pipelines.pretraining.input_pipeline import _compression, list_files
    where = "one of the input files"
    for path in list_files(pattern):
        try:
            for _ in tf.data.TFRecordDataset(path, compression_type=_compression(path)):
                pass
        except tf.errors.DataLossError:
            where = path
            break
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return (f"{where} is corrupt ({first_line}); remake or remove it. Checkpoints are untouched; the last is "
            f"{checkpoint or '(none yet)'}")


def _remove_leftovers_of_a_killed_run(write_dir: str, log: Callable[[str], None]) -> None:
    """Delete the temporary files a killed writer leaves behind, before this run writes anything.

    TensorFlow writes the `checkpoint` state file as `checkpoint.tmp<hex>` and each checkpoint's shards
    under `ckpt-N_temp/` before renaming them; `storage.write_text_atomic` writes `NAME.tmp-*`. A SIGKILL
    between a write and its rename leaves these behind; nothing reads them, and only this process writes
    `write_dir`.
    """
    checkpoints = storage.join(write_dir, "checkpoints")
    files = storage.glob(storage.join(write_dir, "*.tmp-*"))
    files += storage.glob(storage.join(checkpoints, "checkpoint.tmp*"))
    for path in files:
        storage.remove(path)
        log(f"removed {path}, left by an interrupted run")
    for path in storage.glob(storage.join(checkpoints, "*_temp")):
        storage.rmtree(path)
        log(f"removed {path}, left by an interrupted run")


def evaluate_run(model_dir: str, pattern: str, eval_steps: int = 100, batch_size: int = 32,
                 max_seq_length: int = 128, max_predictions_per_seq: int = 20) -> dict[str, float]:
    """MLM/NSP loss and accuracy of the latest checkpoint in `model_dir` on `pattern`."""
    from bert_tf.models import BertEncoder, BertPretrainer
    from bert_tf.training.loop import PretrainingLoop
    from bert_tf.training.optimization import create_optimizer

    config_path = os.path.join(model_dir, "bert_config.json")
    if not tf.io.gfile.exists(config_path):
        raise PreflightError(f"{model_dir} is not a pretraining run (no bert_config.json)")
    options = PretrainOptions(config=config_path, input=pattern, model_dir=model_dir, eval_input=pattern,
                              eval_steps=eval_steps, eval_batch_size=batch_size, max_seq_length=max_seq_length,
                              max_predictions_per_seq=max_predictions_per_seq, strategy="one_device")
    config = load_config(config_path)
    preflight(options, config)
    strategy = tf.distribute.OneDeviceStrategy(tf.config.list_logical_devices("CPU")[0].name
                                               if not tf.config.list_logical_devices("GPU")
                                               else tf.config.list_logical_devices("GPU")[0].name)
    with strategy.scope():
        model = BertPretrainer(BertEncoder.from_bert_config(config))
        optimizer = create_optimizer("adamw", 1e-4, 1, 0, max_grad_norm=None)
        optimizer.build(model.trainable_variables)
        checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
        latest = tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints"))
        if latest is None:
            raise PreflightError(f"{model_dir} holds no checkpoint yet")
        checkpoint.restore(latest).expect_partial()
        loop = PretrainingLoop(model, optimizer, strategy)
    figures = evaluate(options, model, strategy, loop)
    figures["step"] = int(optimizer.iterations.numpy())
    return figures
