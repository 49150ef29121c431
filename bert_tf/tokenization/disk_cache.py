"""A pickle cache on disk for tables that cost seconds to build and never change for a given key.

The tokenizer's tables (`char_classes`, `original_normalizer`) are computed from the running Python's
Unicode data and tensorflow-text's behaviour; their keys name everything they depend on, so a stale
entry can never be read. Folder: `$BERT_TF_CACHE`, else `~/.cache/bert-tf`. Writes are atomic
(temporary name, then rename) and best effort: a read-only home only costs the build next time.
"""

from __future__ import annotations

import os
import pickle
from typing import Any, Callable


def path_for(name: str) -> str:
    folder = os.environ.get("BERT_TF_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "bert-tf")
    return os.path.join(folder, name + ".pickle")


def load_or_build(name: str, build: Callable[[], Any]) -> Any:
    """The value stored under `name`, or `build()` (then stored)."""
    path = path_for(name)
    try:
        with open(path, "rb") as f:
            return pickle.load(f)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError):
        pass
    value = build()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "wb") as f:
            pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:
        pass
    return value
