"""`BertConfig`: the original `bert_config.json`, validated.

The field names and meanings are those of google-research/bert's `BertConfig`, so a released
`bert_config.json` (and a Hugging Face `config.json`, which uses the same names) reads as is. Unknown keys
are ignored (releases add `directionality`, `pooler_*`, ...), impossible values are rejected up front:
a vocab size larger than `vocab.txt` gives silent out-of-range lookups and NaN losses on GPU/TPU
(google-research/bert #82, #354), so we check it before anything is built.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Mapping

from bert_tf.atomic import write_text_atomic

# Activation names and what they mean. "gelu" is the exact erf form: that is what the released
# checkpoints were trained with and how Hugging Face reads them; the tanh approximation moves hidden
# states by ~7e-3, so the names must not be conflated.
ACTIVATIONS = ("gelu", "gelu_exact", "gelu_new", "gelu_tanh", "gelu_pytorch_tanh", "relu", "tanh", "silu", "swish")


class ConfigError(ValueError):
    """A configuration that cannot describe a working BERT."""


@dataclasses.dataclass
class BertConfig:
    """Hyper-parameters of a BERT encoder, with the original `bert_config.json` field names.

    Example:
    >>> cfg = BertConfig.from_preset("bert_tiny")
    >>> cfg.hidden_size, cfg.num_hidden_layers
    (128, 2)
    """

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self, vocab_file: str | os.PathLike | None = None) -> "BertConfig":
        """Raise `ConfigError` naming the first impossible field; optionally check against `vocab.txt`."""
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "intermediate_size", "max_position_embeddings", "type_vocab_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ConfigError(
                f"hidden_size ({self.hidden_size}) is not divisible by num_attention_heads "
                f"({self.num_attention_heads})")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                raise ConfigError(f"{name} must be in [0, 1), got {value!r}")
        if not isinstance(self.initializer_range, (int, float)) or self.initializer_range <= 0:
            raise ConfigError(f"initializer_range must be > 0, got {self.initializer_range!r}")
        if not isinstance(self.layer_norm_eps, (int, float)) or self.layer_norm_eps <= 0:
            raise ConfigError(f"layer_norm_eps must be > 0, got {self.layer_norm_eps!r}")
        if self.hidden_act not in ACTIVATIONS:
            raise ConfigError(f"hidden_act {self.hidden_act!r} is not one of {', '.join(ACTIVATIONS)}")
        if vocab_file is not None:
            n = count_vocab_lines(vocab_file)
            if n != self.vocab_size:
                raise ConfigError(
                    f"vocab_size in the config is {self.vocab_size} but {os.fspath(vocab_file)} has {n} "
                    f"lines; they must be equal (a larger vocab_size gives out-of-range lookups and NaN "
                    f"losses, a smaller one cannot embed the last ids)")
        return self

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_attention_heads

    # ------------------------------------------------------------------ I/O
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "config") -> "BertConfig":
        """Build from a `bert_config.json`-style mapping, ignoring keys we do not know."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: expected a JSON object, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        # Hugging Face spells the epsilon differently in a few model types.
        if "layer_norm_eps" not in kwargs and "layer_norm_epsilon" in data:
            kwargs["layer_norm_eps"] = data["layer_norm_epsilon"]
        try:
            return cls(**kwargs)
        except ConfigError as e:
            raise ConfigError(f"{source}: {e}") from None

    @classmethod
    def from_json_file(cls, path: str | os.PathLike,
                       vocab_file: str | os.PathLike | None = None) -> "BertConfig":
        """Read `bert_config.json` (or a Hugging Face `config.json`); check `vocab_file` if given."""
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"config file not found: {path}")
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
        config = cls.from_dict(data, source=path)
        if vocab_file is not None:
            try:
                config.validate(vocab_file)
            except ConfigError as e:
                raise ConfigError(f"{path}: {e}") from None
        return config

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> "BertConfig":
        """A named architecture (`bert_tiny` ... `bert_large`); see `bert_tf.presets`."""
        from bert_tf.presets import preset_config
        return preset_config(name, **overrides)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def to_json_file(self, path: str | os.PathLike) -> None:
        """Write atomically: a temporary file in the same folder, then a rename."""
        write_text_atomic(path, self.to_json_string())

    def replace(self, **changes: Any) -> "BertConfig":
        return dataclasses.replace(self, **changes)


def count_vocab_lines(vocab_file: str | os.PathLike) -> int:
    """Number of entries in a `vocab.txt`, counted as the original `load_vocab` does (one per line)."""
    vocab_file = os.fspath(vocab_file)
    if not os.path.isfile(vocab_file):
        raise FileNotFoundError(f"vocab file not found: {vocab_file}")
    with open(vocab_file, "rb") as f:
        data = f.read()
    if not data:
        return 0
    return data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
