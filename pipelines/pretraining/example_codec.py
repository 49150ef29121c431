"""Serialize many pretraining `tf.train.Example`s at once, with numpy instead of one protobuf call each.

Building a `tf.train.Example` in Python costs tens of microseconds per instance, more than making the
instance. The message is simple enough to write directly: every feature is a packed `Int64List` of
varints or a packed `FloatList` of little-endian float32s, wrapped in the `Features` map. We build the
bytes of a whole batch as one uint8 matrix (one row per example, each piece in a column slot with a
validity mask) and compact it with one boolean index.

Map entries are written in sorted key order, as protobuf's own deterministic serialization does, so
`encode_examples(...)[i] == example.SerializeToString(deterministic=True)` (tested). Python protobuf's
default serialization orders map entries by a per-process hash seed, so the original script's bytes
change from run to run; readers do not care about the order, and ours is fixed.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np



class Piece:
    """Bytes of one field for every row: `data [N, width]`, which of them are used (`valid`, None when
    all are), and the used count per row (`length`)."""

    __slots__ = ("data", "valid", "length")

    def __init__(self, data: np.ndarray, valid: np.ndarray | None = None):
        self.data, self.valid = data, valid
        self.length = valid.sum(axis=1) if valid is not None else data.shape[1]


def varints(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Varint bytes of non-negative integers: `[..., width]` bytes and a mask of the used ones."""
    values = np.asarray(values)
    if values.size and int(values.min()) < 0:
        raise ValueError("only non-negative integers are supported")
    top = int(values.max()) if values.size else 0
    width = max(1, (top.bit_length() + 6) // 7)
    v = values.astype(np.uint32 if top < 2**32 else np.uint64, copy=False)
    count = np.ones(v.shape, dtype=np.uint8)
    for k in range(1, width):
        count += (v >= (1 << (7 * k))).view(np.uint8)
    data = np.empty(v.shape + (width,), dtype=np.uint8)
    for k in range(width):
        low = (v >> (7 * k)).astype(np.uint8) & np.uint8(0x7F)
        data[..., k] = low | ((count > k + 1).view(np.uint8) << np.uint8(7))
    return data, np.arange(width, dtype=np.uint8) < count[..., None]


def _const(n: int, data: bytes) -> Piece:
    return Piece(np.broadcast_to(np.frombuffer(data, dtype=np.uint8), (n, len(data))))


def _prefixed(n: int, tag: int, body: list[Piece]) -> list[Piece]:
    """`tag`, the varint length of `body`, then `body` (a length-delimited protobuf field)."""
    length = sum(p.length for p in body)
    if np.isscalar(length):
        return [_const(n, bytes([tag]) + _varint_scalar(int(length))), *body]
    data, valid = varints(length)
    return [_const(n, bytes([tag])), Piece(data, valid if not valid.all() else None), *body]


def _varint_scalar(value: int) -> bytes:
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _payload(values: np.ndarray) -> list[Piece]:
    n = len(values)
    if values.dtype.kind == "f":
        return [Piece(np.ascontiguousarray(values, dtype="<f4").view(np.uint8).reshape(n, -1))]
    if values.size == 0 or (values.min() >= 0 and values.max() < 128):
        return [Piece(values.astype(np.uint8))]
    data, valid = varints(values)
    return [Piece(data.reshape(n, -1), valid.reshape(n, -1))]


def encode_examples(features: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Serialize `N` examples: each feature a `[N, K]` int (int64_list) or float (float_list) matrix.

    Returns the concatenated bytes (uint8) and `N + 1` offsets: example `i` is `data[o[i]:o[i+1]]`.
    """
    n = len(next(iter(features.values())))
    entries: list[Piece] = []
    for name in sorted(features):
        values = np.asarray(features[name])
        if values.shape[0] != n or values.ndim != 2:
            raise ValueError(f"feature {name!r}: expected shape [{n}, K], got {values.shape}")
        kind_tag = 0x12 if values.dtype.kind == "f" else 0x1A  # Feature.float_list = 2, int64_list = 3
        value_list = _prefixed(n, 0x0A, _payload(values))  # the packed `value` field
        feature = _prefixed(n, kind_tag, value_list)
        key = name.encode("utf-8")
        entry = [_const(n, b"\x0a" + bytes([len(key)]) + key)] + _prefixed(n, 0x12, feature)
        entries += _prefixed(n, 0x0A, entry)  # Features.feature map entry
    pieces = _prefixed(n, 0x0A, entries)  # Example.features
    lengths = sum(p.length for p in pieces)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    data = np.concatenate([p.data for p in pieces], axis=1)
    if all(p.valid is None for p in pieces):
        return data.reshape(-1), offsets
    valid = np.concatenate([p.valid if p.valid is not None else np.ones(p.data.shape, dtype=bool)
                            for p in pieces], axis=1)
    return data[valid], offsets


def split_records(data: np.ndarray, offsets: np.ndarray) -> list[bytes]:
    """The serialized examples as `bytes` objects."""
    raw = data.tobytes()
    return [raw[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)]
