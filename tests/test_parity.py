"""Numerical parity with Hugging Face transformers (torch, CPU, float32) on real and random weights."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import tensorflow as tf
import torch

from bert_tf import load_encoder, load_pretrainer

TOL_REAL = 1e-4  # acceptance bar for a real checkpoint
TOL_HEADS = 2e-5  # tells exact GELU (~1e-6 here) from the tanh form (~1e-4)


def torch_bert_outputs(model_dir, batch):
    from transformers import BertModel
    model = BertModel.from_pretrained(model_dir).eval()
    with torch.no_grad():
        out = model(input_ids=torch.tensor(batch["input_word_ids"], dtype=torch.long),
                    attention_mask=torch.tensor(batch["input_mask"], dtype=torch.long),
                    token_type_ids=torch.tensor(batch["input_type_ids"], dtype=torch.long))
    return out.last_hidden_state.numpy(), out.pooler_output.numpy()


def assert_encoder_parity(encoder, ref_seq, ref_pooled, batch):
    out = encoder(batch, training=False)
    real = batch["input_mask"].astype(bool)
    seq_diff = np.abs(out["sequence_output"].numpy() - ref_seq)[real].max()
    pooled_diff = np.abs(out["pooled_output"].numpy() - ref_pooled).max()
    assert seq_diff <= TOL_REAL, seq_diff
    assert pooled_diff <= TOL_REAL, pooled_diff
    return seq_diff, pooled_diff


def test_minilm_huggingface_format_matches_transformers(minilm_dir, real_batch):
    assert len(real_batch["input_word_ids"]) >= 32
    ref_seq, ref_pooled = torch_bert_outputs(minilm_dir, real_batch)
    assert_encoder_parity(load_encoder(minilm_dir), ref_seq, ref_pooled, real_batch)


def _hf_to_google_name(name: str) -> tuple[str, bool]:
    """Independent of bert_tf's own map: spelled out per module, as the original modeling.py names them."""
    if name.startswith("embeddings.") and name.endswith("_embeddings.weight"):
        return "bert/" + name.replace(".weight", "").replace(".", "/"), False
    table = {"LayerNorm.weight": "LayerNorm/gamma", "LayerNorm.bias": "LayerNorm/beta"}
    for suffix, google in table.items():
        if name.endswith(suffix):
            head = name[: -len(suffix)]
            return "bert/" + head.replace("encoder.layer.", "encoder/layer_").replace(".", "/") + google, False
    head, leaf = name.rsplit(".", 1)
    head = head.replace("encoder.layer.", "encoder/layer_").replace(".", "/")
    return f"bert/{head}/" + ("kernel" if leaf == "weight" else "bias"), leaf == "weight"


@pytest.fixture(scope="module")
def minilm_google_dir(minilm_dir, tmp_path_factory):
    """all-MiniLM-L6-v2 rewritten in the original Google format by this test (not by bert_tf)."""
    from safetensors.numpy import load_file
    out = tmp_path_factory.mktemp("google_minilm")
    names, tensors = [], []
    for name, value in sorted(load_file(os.path.join(minilm_dir, "model.safetensors")).items()):
        if name == "embeddings.position_ids":
            continue
        google, transpose = _hf_to_google_name(name)
        names.append(google)
        tensors.append(tf.constant(value.T if transpose else value))
    # A training checkpoint also carries optimizer slots and the step; the importer must skip them.
    names += ["bert/pooler/dense/kernel/adam_m", "bert/pooler/dense/kernel/adam_v", "global_step"]
    tensors += [tf.zeros([384, 384]), tf.zeros([384, 384]), tf.constant(1000, tf.int64)]
    tf.raw_ops.SaveV2(prefix=str(out / "bert_model.ckpt"), tensor_names=names,
                      shape_and_slices=[""] * len(names), tensors=tensors)
    hf = json.load(open(os.path.join(minilm_dir, "config.json")))
    keys = ("attention_probs_dropout_prob", "hidden_act", "hidden_dropout_prob", "hidden_size",
            "initializer_range", "intermediate_size", "max_position_embeddings", "num_attention_heads",
            "num_hidden_layers", "type_vocab_size", "vocab_size")
    (out / "bert_config.json").write_text(json.dumps({k: hf[k] for k in keys}))
    (out / "vocab.txt").write_bytes(open(os.path.join(minilm_dir, "vocab.txt"), "rb").read())
    return str(out)


def test_minilm_google_format_matches_transformers(minilm_dir, minilm_google_dir, real_batch):
    ref_seq, ref_pooled = torch_bert_outputs(minilm_dir, real_batch)
    assert_encoder_parity(load_encoder(minilm_google_dir), ref_seq, ref_pooled, real_batch)


@pytest.fixture(scope="module")
def random_pretraining_model(tmp_path_factory):
    """A small randomly initialised `BertForPreTraining` with every weight perturbed, saved as safetensors."""
    from transformers import BertConfig as HFConfig
    from transformers import BertForPreTraining
    torch.manual_seed(0)
    config = HFConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=3, num_attention_heads=4,
                      intermediate_size=256, max_position_embeddings=128, type_vocab_size=2, hidden_act="gelu")
    model = BertForPreTraining(config).eval()
    with torch.no_grad():
        for p in model.parameters():  # tied parameters appear once, so ties survive
            p.add_(torch.randn_like(p) * 0.05)
            if p.dim() == 1:
                p.add_(torch.randn_like(p) * 0.3)  # biases and LayerNorm gamma/beta far from 0 and 1
    assert model.cls.predictions.decoder.weight.data_ptr() == model.bert.embeddings.word_embeddings.weight.data_ptr()
    out = tmp_path_factory.mktemp("hf_pretraining")
    model.save_pretrained(out, safe_serialization=True)
    assert (out / "model.safetensors").exists()
    return model, str(out)


def _pretraining_batch(seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, 1000, (6, 40)).astype("int32")
    mask = np.ones_like(ids)
    mask[::2, 25:] = 0
    types = np.zeros_like(ids)
    types[:, 15:] = 1
    positions = np.sort(rng.choice(np.arange(1, 24), (6, 7)), axis=1).astype("int32")
    return {"input_word_ids": ids * mask, "input_mask": mask, "input_type_ids": types * mask,
            "masked_lm_positions": positions}


def _torch_heads(model, batch):
    with torch.no_grad():
        out = model(input_ids=torch.tensor(batch["input_word_ids"], dtype=torch.long),
                    attention_mask=torch.tensor(batch["input_mask"], dtype=torch.long),
                    token_type_ids=torch.tensor(batch["input_type_ids"], dtype=torch.long))
    mlm = np.take_along_axis(out.prediction_logits.numpy(), batch["masked_lm_positions"][..., None], axis=1)
    return mlm, out.seq_relationship_logits.numpy()


def test_pretraining_heads_match_bert_for_pretraining(random_pretraining_model, tmp_path):
    model, folder = random_pretraining_model
    batch = _pretraining_batch()
    ref_mlm, ref_nsp = _torch_heads(model, batch)
    ours = load_pretrainer(folder)
    out = ours(batch, training=False)
    mlm_diff = np.abs(out["mlm_logits"].numpy() - ref_mlm).max()
    nsp_diff = np.abs(out["nsp_logits"].numpy() - ref_nsp).max()
    assert mlm_diff <= TOL_HEADS and nsp_diff <= TOL_HEADS, (mlm_diff, nsp_diff)

    # The tolerance separates the GELU forms: the tanh approximation on the same weights fails it.
    cfg = json.load(open(os.path.join(folder, "config.json")))
    cfg["hidden_act"] = "gelu_new"
    tanh_folder = tmp_path / "tanh"
    tanh_folder.mkdir()
    (tanh_folder / "config.json").write_text(json.dumps(cfg))
    (tanh_folder / "model.safetensors").write_bytes(open(os.path.join(folder, "model.safetensors"), "rb").read())
    tanh_mlm = load_pretrainer(str(tanh_folder))(batch, training=False)["mlm_logits"].numpy()
    assert np.abs(tanh_mlm - ref_mlm).max() > TOL_HEADS


def test_pretraining_heads_survive_google_round_trip(random_pretraining_model, tmp_path):
    from bert_tf.cli import main
    model, folder = random_pretraining_model
    google = tmp_path / "google"
    assert main(["convert", "--from", folder, "--to", str(google), "--to-format", "google"]) == 0
    reader = tf.train.load_checkpoint(str(google / "bert_model.ckpt"))
    shapes = reader.get_variable_to_shape_map()
    assert shapes["cls/seq_relationship/output_weights"] == [2, 64]  # stored [2, H], as the original
    assert shapes["bert/encoder/layer_2/attention/self/query/kernel"] == [64, 64]
    assert len(shapes) == 5 + 3 * 16 + 2 + 7  # embeddings, 3 layers, pooler, cls heads
    batch = _pretraining_batch(seed=1)
    ref_mlm, ref_nsp = _torch_heads(model, batch)
    out = load_pretrainer(str(google))(batch, training=False)
    assert np.abs(out["mlm_logits"].numpy() - ref_mlm).max() <= TOL_HEADS
    assert np.abs(out["nsp_logits"].numpy() - ref_nsp).max() <= TOL_HEADS
