"""Every preset builds, with the parameter counts of the published models."""

import pytest

from bert_tf import PRESETS, BertEncoder

# Published figures (keras-hub bert_presets.py, the BERT paper), encoder with pooler, 30522 vocab.
# The acceptance bar is 0.1% for tiny, base and large; small and medium are published to 3 digits only.
PUBLISHED = {"bert_tiny": (4.39e6, 1e-3), "bert_small": (28.8e6, 2e-3), "bert_medium": (41.4e6, 2e-3),
             "bert_base": (109.5e6, 1e-3), "bert_large": (335.1e6, 1e-3)}


def expected_count(cfg) -> int:
    """Independent count: embeddings + LayerNorm, per layer (q,k,v,o, 2 LayerNorms, FFN), pooler."""
    h, i = cfg.hidden_size, cfg.intermediate_size
    embeddings = (cfg.vocab_size + cfg.max_position_embeddings + cfg.type_vocab_size) * h + 2 * h
    layer = 4 * (h * h + h) + 2 * 2 * h + (h * i + i) + (i * h + h)
    return embeddings + cfg.num_hidden_layers * layer + (h * h + h)


@pytest.mark.parametrize("name", PRESETS)
def test_preset_builds_with_known_parameter_count(name):
    encoder = BertEncoder.from_preset(name)
    cfg = encoder.bert_config
    assert len(encoder.blocks) == cfg.num_hidden_layers
    assert len(encoder.outputs) == 2 + cfg.num_hidden_layers  # sequence, pooled, one per layer
    count = encoder.count_params()
    assert count == expected_count(cfg)
    if name in PUBLISHED:
        figure, tolerance = PUBLISHED[name]
        assert abs(count - figure) / figure < tolerance, count
