import json

import pytest

from bert_tf import PRESETS, BertConfig, ConfigError
from bert_tf.config import count_vocab_lines


def test_reads_original_fields_and_ignores_unknown_keys(tmp_path):
    path = tmp_path / "bert_config.json"
    path.write_text(json.dumps({
        "attention_probs_dropout_prob": 0.1, "directionality": "bidi", "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1, "hidden_size": 768, "initializer_range": 0.02, "intermediate_size": 3072,
        "max_position_embeddings": 512, "num_attention_heads": 12, "num_hidden_layers": 12,
        "pooler_fc_size": 768, "type_vocab_size": 2, "vocab_size": 21128}))
    cfg = BertConfig.from_json_file(path)
    assert (cfg.vocab_size, cfg.hidden_size, cfg.num_hidden_layers, cfg.type_vocab_size) == (21128, 768, 12, 2)
    assert not hasattr(cfg, "directionality")


def test_write_read_round_trip(tmp_path):
    cfg = BertConfig.from_preset("bert_small", hidden_act="gelu_new", vocab_size=1000)
    cfg.to_json_file(tmp_path / "c.json")
    assert BertConfig.from_json_file(tmp_path / "c.json") == cfg
    assert json.loads((tmp_path / "c.json").read_text())["hidden_act"] == "gelu_new"
    assert [p.name for p in tmp_path.iterdir()] == ["c.json"]  # no temporary left behind


def test_hidden_size_not_divisible_by_heads(tmp_path):
    with pytest.raises(ConfigError, match=r"hidden_size \(100\) is not divisible by num_attention_heads \(12\)"):
        BertConfig(hidden_size=100, num_attention_heads=12)
    path = tmp_path / "bert_config.json"
    path.write_text(json.dumps({"hidden_size": 100, "num_attention_heads": 12}))
    with pytest.raises(ConfigError, match="bert_config.json"):
        BertConfig.from_json_file(path)


def test_vocab_size_must_match_vocab_file(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("".join(f"tok{i}\n" for i in range(99)))
    assert count_vocab_lines(vocab) == 99
    config = tmp_path / "bert_config.json"
    config.write_text(json.dumps({"vocab_size": 100, "hidden_size": 8, "num_attention_heads": 2}))
    with pytest.raises(ConfigError, match=r"vocab_size in the config is 100 but .*vocab.txt has 99 lines"):
        BertConfig.from_json_file(config, vocab_file=vocab)
    assert BertConfig.from_json_file(config).vocab_size == 100  # without a vocab, no check


@pytest.mark.parametrize("field,value,message", [
    ("num_hidden_layers", 0, "num_hidden_layers must be a positive integer"),
    ("vocab_size", 12.5, "vocab_size must be a positive integer"),
    ("hidden_dropout_prob", 1.5, r"hidden_dropout_prob must be in \[0, 1\)"),
    ("hidden_act", "gelu_fast_and_wrong", "hidden_act 'gelu_fast_and_wrong' is not one of"),
])
def test_impossible_values_are_rejected(field, value, message):
    with pytest.raises(ConfigError, match=message):
        BertConfig(**{field: value})


def test_bad_json_names_the_file(tmp_path):
    path = tmp_path / "bert_config.json"
    path.write_text('{"vocab_size": 10,,}')
    with pytest.raises(ConfigError, match=r"bert_config.json: not valid JSON \(line 1"):
        BertConfig.from_json_file(path)
    with pytest.raises(FileNotFoundError, match="config file not found"):
        BertConfig.from_json_file(tmp_path / "missing.json")


def test_presets():
    assert PRESETS == ("bert_tiny", "bert_mini", "bert_small", "bert_medium", "bert_base", "bert_large")
    shapes = {name: (c.num_hidden_layers, c.hidden_size, c.num_attention_heads)
              for name in PRESETS for c in [BertConfig.from_preset(name)]}
    assert shapes == {"bert_tiny": (2, 128, 2), "bert_mini": (4, 256, 4), "bert_small": (4, 512, 8),
                      "bert_medium": (8, 512, 8), "bert_base": (12, 768, 12), "bert_large": (24, 1024, 16)}
    for name in PRESETS:
        c = BertConfig.from_preset(name)
        assert (c.intermediate_size, c.max_position_embeddings, c.type_vocab_size, c.hidden_act) == (
            4 * c.hidden_size, 512, 2, "gelu")


def test_unknown_preset():
    with pytest.raises(ConfigError, match=r"unknown preset 'bert_huge'; known presets: bert_tiny, bert_mini"):
        BertConfig.from_preset("bert_huge")
