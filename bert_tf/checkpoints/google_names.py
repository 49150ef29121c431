"""The one map between our Keras weights and the original checkpoint variable names.

Every importer converts its source into `{original name: numpy array in the original layout}` and
every exporter starts from it, so the name map, the reshapes and the transposes live here only:

- `bert/embeddings/...`, `bert/encoder/layer_N/...`, `bert/pooler/dense/...` for the encoder;
- `cls/predictions/...` and `cls/seq_relationship/...` for the pretraining heads. The original stores
  `cls/seq_relationship/output_weights` as `[2, H]` (it computes `pooled @ W^T`), our Dense kernel is
  `[H, 2]`, so it is transposed both ways.
- Our attention fuses the original `query`/`key`/`value` kernels into one `[H, 3H]` kernel (and the
  biases into `[3H]`): split on export, concatenated on import.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Mapping, Sequence

import numpy as np

from bert_tf.checkpoints.errors import CheckpointError


@dataclasses.dataclass
class WeightSlot:
    """One Keras variable and the original variable(s) it holds."""

    names: tuple[str, ...]
    variable: object
    to_original: Callable[[np.ndarray], tuple[np.ndarray, ...]]
    from_original: Callable[[Sequence[np.ndarray]], np.ndarray]


def _same(name: str, variable) -> WeightSlot:
    return WeightSlot((name,), variable, lambda v: (v,), lambda parts: parts[0])


def _transposed(name: str, variable) -> WeightSlot:
    return WeightSlot((name,), variable, lambda v: (v.T,), lambda parts: parts[0].T)


def _fused(names: tuple[str, ...], variable, axis: int) -> WeightSlot:
    return WeightSlot(names, variable, lambda v: tuple(np.split(v, len(names), axis=axis)),
                      lambda parts: np.concatenate(parts, axis=axis))


def _dense(prefix: str, dense) -> list[WeightSlot]:
    return [_same(f"{prefix}/kernel", dense.kernel), _same(f"{prefix}/bias", dense.bias)]


def _layer_norm(prefix: str, norm) -> list[WeightSlot]:
    return [_same(f"{prefix}/gamma", norm.gamma), _same(f"{prefix}/beta", norm.beta)]


def encoder_slots(encoder) -> list[WeightSlot]:
    """Slots of every `BertEncoder` weight, under the original `bert/...` names."""
    emb = encoder.embeddings
    slots = [
        _same("bert/embeddings/word_embeddings", emb.word_embeddings.embeddings),
        _same("bert/embeddings/position_embeddings", emb.position_embeddings.position_embeddings),
        _same("bert/embeddings/token_type_embeddings", emb.token_type_embeddings.embeddings),
        *_layer_norm("bert/embeddings/LayerNorm", emb.layer_norm),
    ]
    for i, block in enumerate(encoder.blocks):
        p = f"bert/encoder/layer_{i}"
        qkv = tuple(f"{p}/attention/self/{part}" for part in ("query", "key", "value"))
        slots += [
            _fused(tuple(f"{n}/kernel" for n in qkv), block.attention.qkv.kernel, axis=1),
            _fused(tuple(f"{n}/bias" for n in qkv), block.attention.qkv.bias, axis=0),
            *_dense(f"{p}/attention/output/dense", block.attention.output_dense),
            *_layer_norm(f"{p}/attention/output/LayerNorm", block.attention_layer_norm),
            *_dense(f"{p}/intermediate/dense", block.intermediate),
            *_dense(f"{p}/output/dense", block.output_dense),
            *_layer_norm(f"{p}/output/LayerNorm", block.output_layer_norm),
        ]
    slots += _dense("bert/pooler/dense", encoder.pooler.dense)
    return slots


def pretraining_head_slots(pretrainer) -> list[WeightSlot]:
    """Slots of the masked-LM and next-sentence heads, under the original `cls/...` names."""
    mlm, nsp = pretrainer.masked_lm, pretrainer.next_sentence
    return [
        *_dense("cls/predictions/transform/dense", mlm.transform),
        *_layer_norm("cls/predictions/transform/LayerNorm", mlm.layer_norm),
        _same("cls/predictions/output_bias", mlm.output_bias),
        _transposed("cls/seq_relationship/output_weights", nsp.dense.kernel),
        _same("cls/seq_relationship/output_bias", nsp.dense.bias),
    ]


def model_slots(model) -> list[WeightSlot]:
    """Slots of a `BertEncoder` or a `BertPretrainer` (encoder plus heads)."""
    if hasattr(model, "masked_lm"):
        return encoder_slots(model.encoder) + pretraining_head_slots(model)
    return encoder_slots(getattr(model, "encoder", model))


def export_weights(slots: Sequence[WeightSlot]) -> dict[str, np.ndarray]:
    """`{original name: array}` for every slot."""
    out: dict[str, np.ndarray] = {}
    for slot in slots:
        value = np.asarray(slot.variable.numpy() if hasattr(slot.variable, "numpy") else slot.variable)
        for name, part in zip(slot.names, slot.to_original(value)):
            out[name] = np.ascontiguousarray(part)
    return out


def assign_weights(slots: Sequence[WeightSlot], weights: Mapping[str, np.ndarray], source: str,
                   scopes: Sequence[str] = ("bert/",)) -> None:
    """Assign every slot from `weights`, or raise one `CheckpointError` listing every problem.

    Problems are: a slot's variable missing from the source, a shape that differs, and (within
    `scopes`) source variables that no slot consumed, which means the checkpoint has a different
    architecture (more layers, say) than the config describes. Nothing is assigned unless all is well.
    """
    missing, mismatched, staged = [], [], []
    used = set()
    for slot in slots:
        parts = []
        for name in slot.names:
            if name not in weights:
                missing.append(name)
            else:
                parts.append(np.asarray(weights[name]))
                used.add(name)
        if len(parts) != len(slot.names):
            continue
        expected = tuple(slot.variable.shape)
        try:
            value = slot.from_original(parts)
        except ValueError:
            value = None
        if value is None or tuple(value.shape) != expected:
            got = ", ".join(f"{n} {tuple(p.shape)}" for n, p in zip(slot.names, parts))
            want = ", ".join(f"{tuple(p.shape)}" for p in slot.to_original(np.zeros(expected, "float32")))
            mismatched.append(f"{got} (model expects {want})")
            continue
        staged.append((slot.variable, value))
    unmatched = sorted(n for n in weights if n not in used and n.startswith(tuple(scopes)))
    if missing or mismatched or unmatched:
        lines = [f"cannot load {source}:"]
        if mismatched:
            lines.append(f"  {len(mismatched)} shape mismatch(es) (is the config the one this checkpoint was "
                         f"trained with?):")
            lines += [f"    {m}" for m in mismatched[:20]]
        if missing:
            lines.append(f"  {len(missing)} variable(s) the model needs are missing from the checkpoint:")
            lines += [f"    {m}" for m in missing[:20]]
        if unmatched:
            lines.append(f"  {len(unmatched)} checkpoint variable(s) match nothing in the model:")
            lines += [f"    {m} {tuple(np.shape(weights[m]))}" for m in unmatched[:20]]
        for group in (mismatched, missing, unmatched):
            if len(group) > 20:
                lines.append(f"    ... ({len(group) - 20} more)")
        raise CheckpointError("\n".join(lines))
    for variable, value in staged:
        variable.assign(value.astype(np.dtype(variable.dtype)) if hasattr(variable, "dtype") else value)
