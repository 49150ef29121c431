"""What a set of pretraining TFRecords holds: counts per file, decoded examples, statistics.

Works on our files and on the original script's (shapes are read from our manifest when there is
one, else from the first record). Statistics are recomputed from the records themselves, so they
check the writer rather than repeat what it claimed.
"""

from __future__ import annotations

import glob
import json
import os

import numpy as np

from bert_tf.text_files import expand_inputs


def find_files(pattern: str) -> tuple[list[str], dict | None]:
    """The record files of `pattern` (files, globs, or a directory) and the manifest beside them."""
    if os.path.isdir(pattern):
        files = sorted(glob.glob(os.path.join(pattern, "*.tfrecord*")))
        if not files:
            raise FileNotFoundError(f"{pattern} holds no *.tfrecord files")
    else:
        files = expand_inputs(pattern)
    manifest_path = os.path.join(os.path.dirname(os.path.abspath(files[0])), "manifest.json")
    manifest = None
    if os.path.exists(manifest_path):
        with open(manifest_path, encoding="utf-8") as f:
            manifest = json.load(f)
    return files, manifest


def compression_of(path: str) -> str:
    with open(path, "rb") as f:
        return "GZIP" if f.read(2) == b"\x1f\x8b" else ""


def _layout_from_first_record(files: list[str]) -> tuple[int, int, bool]:
    import tensorflow as tf
    for path in files:
        for raw in tf.data.TFRecordDataset(path, compression_type=compression_of(path)).take(1):
            example = tf.train.Example.FromString(raw.numpy())
            feature = example.features.feature
            if "input_ids" not in feature:
                raise ValueError(f"{path}: the records have no 'input_ids' feature; not pretraining data")
            seq = len(feature["input_ids"].int64_list.value)
            dynamic = "masked_lm_positions" not in feature
            pred = 0 if dynamic else len(feature["masked_lm_positions"].int64_list.value)
            return seq, pred, dynamic
    raise ValueError("the files hold no records")


def inspect_records(pattern: str, vocab_file: str | None = None, num_examples: int = 3,
                    max_records: int = 0) -> str:
    import tensorflow as tf

    from bert_tf.tokenization.vocab import load_vocab
    from pipelines.pretraining.tfrecord import feature_spec

    files, manifest = find_files(pattern)
    if manifest is not None:
        options = manifest["options"]
        seq, pred, dynamic = (options["max_seq_length"], options["max_predictions_per_seq"],
                              options["dynamic_masking"])
        vocab_file = vocab_file or manifest["vocab"]["file"]
    else:
        seq, pred, dynamic = _layout_from_first_record(files)
    vocab = load_vocab(vocab_file) if vocab_file else None
    spec = feature_spec(seq, pred)
    if dynamic:
        spec = {k: v for k, v in spec.items() if not k.startswith("masked_lm")}
    index = {t: i for i, t in enumerate(vocab)} if vocab else {}
    mask_id = index.get("[MASK]", 103)
    special = {index.get(t, d) for t, d in (("[CLS]", 101), ("[SEP]", 102), ("[PAD]", 0))}

    lines = [f"{len(files)} file(s); max_seq_length {seq}, max_predictions_per_seq {pred}"
             + (", unmasked (dynamic masking)" if dynamic else "")]
    totals = dict(instances=0, random_next=0, padded=0, tokens=0, candidates=0, masked=0, as_mask=0, as_self=0,
                  special_masked=0)
    shown: list[str] = []
    for path in files:
        count = 0
        dataset = tf.data.TFRecordDataset(path, compression_type=compression_of(path)).batch(1024)
        for serialized in dataset:
            batch = {k: v.numpy() for k, v in tf.io.parse_example(serialized, spec).items()}
            count += len(batch["input_ids"])
            _accumulate(totals, batch, dynamic, mask_id, special)
            while len(shown) < num_examples and len(shown) < len(batch["input_ids"]):
                shown.append(_decode(batch, len(shown), vocab, dynamic, mask_id))
            if max_records and totals["instances"] >= max_records:
                break
        lines.append(f"  {os.path.basename(path)}: {count:,} records")
        if max_records and totals["instances"] >= max_records:
            lines.append(f"  (stopped after {totals['instances']:,} records)")
            break
    n = max(totals["instances"], 1)
    lines.append(f"total: {totals['instances']:,} records")
    lines.append(f"random next: {100 * totals['random_next'] / n:.2f}%   padded: {100 * totals['padded'] / n:.2f}%   "
                 f"tokens per record: {totals['tokens'] / n:.1f}")
    if not dynamic and totals["masked"]:
        m = totals["masked"]
        lines.append(f"masked: {100 * m / max(totals['candidates'], 1):.2f}% of non-special tokens; "
                     f"{100 * totals['as_mask'] / m:.1f}% [MASK], {100 * totals['as_self'] / m:.1f}% unchanged, "
                     f"{100 * (m - totals['as_mask'] - totals['as_self']) / m:.1f}% random; "
                     f"special tokens masked: {totals['special_masked']}")
    if shown:
        lines.append("examples ([MASK=x] masked, (x) chosen but unchanged, {y=x} a random piece in place of x):")
        lines.extend(shown)
    if manifest is not None:
        lines.append("manifest statistics: " + json.dumps({k: round(v, 4) if isinstance(v, float) else v
                                                          for k, v in manifest["statistics"].items()}))
    return "\n".join(lines)


def _accumulate(totals: dict, batch: dict, dynamic: bool, mask_id: int, special: set[int]) -> None:
    lengths = batch["input_mask"].sum(axis=1)
    seq = batch["input_ids"].shape[1]
    totals["instances"] += len(lengths)
    totals["random_next"] += int(batch["next_sentence_labels"].sum())
    totals["padded"] += int((lengths < seq).sum())
    totals["tokens"] += int(lengths.sum())
    if dynamic:
        return
    weights = batch["masked_lm_weights"] > 0
    positions, labels = batch["masked_lm_positions"], batch["masked_lm_ids"]
    at = np.take_along_axis(batch["input_ids"], positions, axis=1)
    totals["candidates"] += int((lengths - 3).sum())
    totals["masked"] += int(weights.sum())
    totals["as_mask"] += int((weights & (at == mask_id)).sum())
    totals["as_self"] += int((weights & (at == labels) & (labels != mask_id)).sum())
    totals["special_masked"] += int((weights & np.isin(labels, list(special))).sum())


def _decode(batch: dict, row: int, vocab: list[str] | None, dynamic: bool, mask_id: int) -> str:
    def name(i: int) -> str:
        return vocab[i] if vocab and 0 <= i < len(vocab) else str(i)

    length = int(batch["input_mask"][row].sum())
    ids = batch["input_ids"][row][:length]
    words = [name(int(i)) for i in ids]
    if not dynamic:
        for position, label, weight in zip(batch["masked_lm_positions"][row], batch["masked_lm_ids"][row],
                                           batch["masked_lm_weights"][row]):
            if weight <= 0:
                continue
            p, original = int(position), name(int(label))
            if ids[p] == mask_id:
                words[p] = f"[MASK={original}]"
            elif ids[p] == label:
                words[p] = f"({original})"
            else:
                words[p] = f"{{{words[p]}={original}}}"
    label = "random next" if batch["next_sentence_labels"][row][0] else "is next"
    return f"  [{label}, {length} tokens] " + " ".join(words)
