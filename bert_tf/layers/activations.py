"""Activation functions by their `bert_config.json` names.

`gelu` is the exact erf form, as in the released checkpoints and Hugging Face; `gelu_new`,
`gelu_tanh` and `gelu_pytorch_tanh` are the tanh approximation. Mixing them up moves hidden states by
~7e-3 on a real checkpoint, so the mapping is explicit rather than left to a library default.
"""

from __future__ import annotations

from typing import Callable

import keras


def gelu_exact(x):
    return keras.activations.gelu(x, approximate=False)


def gelu_tanh(x):
    return keras.activations.gelu(x, approximate=True)


_ACTIVATIONS: dict[str, Callable] = {
    "gelu": gelu_exact,
    "gelu_exact": gelu_exact,
    "gelu_new": gelu_tanh,
    "gelu_tanh": gelu_tanh,
    "gelu_pytorch_tanh": gelu_tanh,
    "relu": keras.activations.relu,
    "tanh": keras.activations.tanh,
    "silu": keras.activations.silu,
    "swish": keras.activations.silu,
}


def get_activation(name: str) -> Callable:
    """The callable for activation `name`; raises `ValueError` for names BERT configs do not use."""
    try:
        return _ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(_ACTIVATIONS)}") from None
