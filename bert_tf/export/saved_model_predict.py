"""Predictions from an exported SavedModel with nothing but tensorflow and tensorflow-text.

This module imports no other part of bert_tf: what it does is what any serving client can do with the export.
"""

from __future__ import annotations

import json
import os


def resolve_version(path: str) -> str:
    """`BASE` (the highest integer version in it) or `BASE/<version>`."""
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    versions = sorted(int(n) for n in os.listdir(path) if n.isdigit()) if os.path.isdir(path) else []
    if not versions:
        raise FileNotFoundError(f"{path}: no SavedModel (no saved_model.pb and no numbered version folders)")
    return os.path.join(path, str(versions[-1]))


def predict_saved_model(path: str, texts: list[str], texts_b: list[str] | None = None) -> list[dict]:
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the tokenizer ops the graph uses)
    path = resolve_version(path)
    info_file = os.path.join(path, "export_info.json")
    info = json.load(open(info_file, encoding="utf-8")) if os.path.isfile(info_file) else {}
    model = tf.saved_model.load(path)  # kept alive: a signature alone does not hold the variables
    serve = model.signatures["serving_default"]
    names = list(serve.structured_input_signature[1])
    second = "question" if "question" in names else "text_b" if "text_b" in names else None
    if second and (not texts_b or len(texts_b) != len(texts)):
        raise ValueError(f"{path} takes {'a question per context' if second == 'question' else 'sentence pairs'}: "
                         f"give one --text-b per --text")
    kwargs = {"context" if second == "question" else "text": tf.constant(texts, tf.string)}
    if second:
        kwargs[second] = tf.constant(texts_b, tf.string)
    outputs = {k: v.numpy() for k, v in serve(**kwargs).items()}
    outputs.pop("logits", None) if "tags" in outputs else None  # per-piece logits: not useful per word
    records = []
    for i, text in enumerate(texts):
        record = {"context" if second == "question" else "text": text}
        if second:
            record[second] = texts_b[i]
        for name, value in sorted(outputs.items()):
            if name in ("start_logits", "end_logits"):
                continue
            v = value[i]
            if name in ("tags", "words"):
                record[name] = [t.decode("utf-8") for t in v if t]
                continue
            record[name] = v.decode("utf-8") if isinstance(v, bytes) else v.tolist()
        if info.get("labels") and "probabilities" in record:
            record["probabilities"] = dict(zip(info["labels"], record["probabilities"]))
        records.append(record)
    return records
