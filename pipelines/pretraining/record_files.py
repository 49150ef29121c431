"""TFRecord framing for a whole batch of serialized records at once, and atomic shard files.

A TFRecord file is a sequence of `uint64 length | uint32 masked_crc32c(length) | data |
uint32 masked_crc32c(data)` (little-endian). Writing through `tf.io.TFRecordWriter` costs a few
microseconds per record in Python calls; here the headers and footers are laid out with numpy
around the concatenated records and only the data checksum is a call per record (hardware CRC-32C
from the `crc32c` package). Files are written under a temporary name and renamed when whole.
"""

from __future__ import annotations

import gzip

import crc32c
import numpy as np

_MASK_DELTA = 0xA282EAD8


def _masked(crc: np.ndarray) -> np.ndarray:
    crc = crc.astype(np.uint64)
    rotated = ((crc >> np.uint64(15)) | (crc << np.uint64(17))) & np.uint64(0xFFFFFFFF)
    return ((rotated + np.uint64(_MASK_DELTA)) & np.uint64(0xFFFFFFFF)).astype("<u4")


def frame_records(data: np.ndarray, offsets: np.ndarray) -> bytes:
    """The TFRecord bytes of the records `data[offsets[i]:offsets[i+1]]`."""
    n = len(offsets) - 1
    if n == 0:
        return b""
    lengths = np.diff(offsets).astype("<u8")
    raw = memoryview(np.ascontiguousarray(data, dtype=np.uint8)).cast("B")
    length_bytes = lengths.view(np.uint8).reshape(n, 8)
    length_crc = _masked(np.array([crc32c.crc32c(row.tobytes()) for row in length_bytes], dtype=np.uint64))
    data_crc = _masked(np.array([crc32c.crc32c(raw[offsets[i]:offsets[i + 1]]) for i in range(n)],
                                dtype=np.uint64))
    out = np.empty(int(offsets[-1]) + 16 * n, dtype=np.uint8)
    starts = offsets[:-1] + 16 * np.arange(n)  # where each record's frame begins
    header = np.concatenate([length_bytes, length_crc.view(np.uint8).reshape(n, 4)], axis=1)
    out[(starts[:, None] + np.arange(12)).reshape(-1)] = header.reshape(-1)
    out[(starts[:, None] + 12 + lengths[:, None].astype(np.int64) + np.arange(4)).reshape(-1)] = \
        data_crc.view(np.uint8).reshape(-1)
    body = np.ones(len(out), dtype=bool)
    body[(starts[:, None] + np.arange(12)).reshape(-1)] = False
    body[(starts[:, None] + 12 + lengths[:, None].astype(np.int64) + np.arange(4)).reshape(-1)] = False
    out[body] = np.asarray(data, dtype=np.uint8)[:int(offsets[-1])]
    return out.tobytes()


def write_atomic(path: str, payload: bytes, compress: bool = False) -> None:
    """Write `payload` (gzip-compressed when asked, with a fixed header so runs are byte-identical)
    to a temporary name beside `path`, then rename it to `path` (local or `gs://`-style paths)."""
    from bert_tf.storage import write_bytes_atomic
    write_bytes_atomic(path, gzip.compress(payload, compresslevel=6, mtime=0) if compress else payload)
