"""`bert-tf export`: a fine-tuned run's best model as a versioned, self-checked SavedModel for TF Serving.

Order: build the serving module; save it under a temporary name beside the version folders; check its ops
against the chosen TF Serving release; reload it and compare `serving_default` on probe texts with the
in-memory model (<= 1e-5); write `export_info.json`; rename to `BASE/<version>`. Any failure leaves no folder.
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from bert_tf.atomic import write_text_atomic

PROBES = ["a gorgeous , witty , seductive movie .", "", "the plot is a mess and the acting is worse " * 40,
          "Zürich's café — naïve résumé ✓ 東京"]


def _sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def build_serving_module(run):
    from bert_tf.export.serving_modules import ClassifierServing, SpanServing, TaggerServing
    from bert_tf.finetuning.errors import FinetuneError
    o, meta = run.options, run.meta
    if o.task in ("classify", "regress"):
        pair = meta.get("pair")
        if pair is None:  # runs written before `pair` was recorded
            pair = bool(o.text_b_column) or (o.glue not in (None, "sst2", "cola"))
        return ClassifierServing(run.model, run.tokenizer, o.max_seq_length,
                                 None if o.task == "regress" else list(meta["labels"]), pair)
    if o.task == "squad":
        return SpanServing(run.model, run.tokenizer, o.max_seq_length, o.max_query_length, o.max_answer_length)
    if o.task == "tag":
        return TaggerServing(run.model, run.tokenizer, o.max_seq_length, list(meta["labels"]))
    raise FinetuneError(f"cannot export a --task {o.task} run")


def _signature_inputs(module, texts) -> dict:
    import tensorflow as tf
    texts = tf.constant(texts)
    names = [spec.name for spec in module.serve_text.input_signature]
    return {name: texts for name in names}


def _reference_outputs(module, texts):
    """The in-memory model's outputs on `texts` (the same packing the signature does)."""
    return {k: v.numpy() for k, v in module.serve_text(**_signature_inputs(module, texts)).items()}


def export_run(run_dir: str, output: str, version: int | None = None, serving_target: str = "2.12",
               overwrite: bool = False, log=print) -> str:
    import tensorflow as tf

    from bert_tf.export.op_check import check_serving
    from bert_tf.export.versions import new_version_folder
    from bert_tf.finetuning.load import load_finetuned
    run = load_finetuned(run_dir)
    module = build_serving_module(run)
    reference = _reference_outputs(module, PROBES)
    best = os.path.join(run_dir, "best", "eval_results.json")
    best = json.load(open(best, encoding="utf-8")) if os.path.isfile(best) else {}
    with new_version_folder(output, version, overwrite) as (tmp, number):
        tf.saved_model.save(module, tmp, signatures=module.signatures())
        report = check_serving(tmp, serving_target)
        loaded = tf.saved_model.load(tmp)
        served = loaded.signatures["serving_default"](**_signature_inputs(module, PROBES))
        for name, value in reference.items():
            got = served[name].numpy()
            if got.dtype.kind in "fc":
                np.testing.assert_allclose(got, value, atol=1e-5, err_msg=f"reloaded export differs in {name}")
            else:
                assert (got == value).all(), f"reloaded export differs in {name}"
        info = {"task": run.options.task, "labels": run.meta.get("labels"), "pair": getattr(module, "pair", False),
                "sequence_length": run.options.max_seq_length, "lower_case": run.meta["lower_case"],
                "vocab_sha256": _sha256(os.path.join(tmp, "assets", "vocab.txt")),
                "source_run": os.path.abspath(run_dir), "step": best.get("step"),
                "eval": {k: v for k, v in best.items() if isinstance(v, float)},
                "signatures": sorted(module.signatures()), "serving_target": serving_target,
                "custom_ops": report["custom_ops"], "version": number}
        write_text_atomic(os.path.join(tmp, "export_info.json"), json.dumps(info, indent=2) + "\n")
        log(f"checked: the reloaded SavedModel matches the Keras model on {len(PROBES)} probe texts; TF Serving "
            f"{serving_target} links its custom ops ({', '.join(report['custom_ops']) or 'none'})")
    return os.path.join(os.path.abspath(output), str(number))
