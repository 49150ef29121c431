"""Our own format: a folder with `model.keras`, `bert_config.json`, `vocab.txt` and `bert_tf.json`.

`model.keras` is a standard Keras 3 archive of a `BertEncoder` or `BertPretrainer` (config + weights);
`bert_config.json` repeats the architecture in the original format so other tools can read it;
`bert_tf.json` says what the folder holds and where it came from. Folders are written atomically.
"""

from __future__ import annotations

import json
import os
import shutil

import keras

from bert_tf.atomic import atomic_folder, write_text_atomic

MODEL_FILE = "model.keras"
INFO_FILE = "bert_tf.json"
FORMAT_VERSION = 1


def is_native_folder(path: str) -> bool:
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, INFO_FILE))


def save_native(model, out_dir: str, vocab_file: str | None = None, source: str | None = None,
                overwrite: bool = False) -> str:
    """Write `model` (an encoder or a pretrainer) as a bert-tf folder at `out_dir`."""
    out_dir = os.path.abspath(out_dir)
    with atomic_folder(out_dir, overwrite=overwrite) as tmp:
        config = model.bert_config
        if vocab_file is not None:
            config.validate(vocab_file)
            shutil.copyfile(vocab_file, os.path.join(tmp, "vocab.txt"))
        config.to_json_file(os.path.join(tmp, "bert_config.json"))
        _uncompiled(model).save(os.path.join(tmp, MODEL_FILE))
        info = {"format": "bert_tf", "format_version": FORMAT_VERSION,
                "model": "pretrainer" if hasattr(model, "masked_lm") else "encoder",
                "class": type(model).__name__, "source": source}
        write_text_atomic(os.path.join(tmp, INFO_FILE), json.dumps(info, indent=2) + "\n")
    return out_dir


def _uncompiled(model):
    """The model without its training state: a compiled model would save the optimizer (twice the
    weights again in Adam's moments) and need our optimizer classes to load."""
    if getattr(model, "optimizer", None) is None:
        return model
    clone = type(model).from_config(model.get_config())
    clone.set_weights(model.get_weights())
    return clone


def load_keras_model(path: str):
    """Load a `.keras` file (or the `model.keras` of a bert-tf folder) with our classes registered."""
    import bert_tf.models  # noqa: F401  (registers the serializable classes)
    if os.path.isdir(path):
        path = os.path.join(path, MODEL_FILE)
    return keras.saving.load_model(path)
