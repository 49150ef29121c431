"""Named BERT architectures, from the 24 small BERTs of google-research/bert to BERT-Large.

Every preset uses intermediate size 4H, 512 positions, 2 token types and the uncased 30522-entry
vocab size of the released English checkpoints. Presets describe shapes only; weights come from
`bert_tf.load_encoder` on a checkpoint folder.
"""

from __future__ import annotations

from typing import Any

from bert_tf.config import BertConfig, ConfigError

# name: (layers L, hidden H, heads A)
_SHAPES = {
    "bert_tiny": (2, 128, 2),
    "bert_mini": (4, 256, 4),
    "bert_small": (4, 512, 8),
    "bert_medium": (8, 512, 8),
    "bert_base": (12, 768, 12),
    "bert_large": (24, 1024, 16),
}

PRESETS = tuple(_SHAPES)


def preset_config(name: str, **overrides: Any) -> BertConfig:
    """The `BertConfig` of preset `name`, with any field overridden by keyword."""
    key = name.strip().lower().replace("-", "_")
    if key not in _SHAPES:
        raise ConfigError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}")
    layers, hidden, heads = _SHAPES[key]
    fields = dict(vocab_size=30522, hidden_size=hidden, num_hidden_layers=layers,
                  num_attention_heads=heads, intermediate_size=4 * hidden,
                  max_position_embeddings=512, type_vocab_size=2)
    fields.update(overrides)
    return BertConfig(**fields)
