"""Files on local disk or behind a URL scheme (`gs://`, `s3://`, `hdfs://`, `ram://`), one set of calls.

Data jobs that run on a cluster (Beam on Dataflow, TPU VMs) read and write cloud buckets; local runs
use plain paths. Local paths go through `os` (fast, and `os.replace` is atomic); a path with a scheme
goes through `tf.io.gfile`, imported only then. On object stores a rename is a copy and a delete, so
"write under a temporary name, then rename" still means readers never see a half-written file under
the final name, though the rename itself is not atomic there.
"""

from __future__ import annotations

import glob as _glob
import os
import shutil
import uuid
from typing import IO


def is_remote(path: str) -> bool:
    return "://" in str(path)


def _gfile():
    import tensorflow as tf
    return tf.io.gfile


def join(*parts: str) -> str:
    if is_remote(parts[0]):
        return "/".join([parts[0].rstrip("/")] + [p.strip("/") for p in parts[1:]])
    return os.path.join(*parts)


def absolute(path: str) -> str:
    return path if is_remote(path) else os.path.abspath(path)


def exists(path: str) -> bool:
    return _gfile().exists(path) if is_remote(path) else os.path.exists(path)


def makedirs(path: str) -> None:
    if is_remote(path):
        _gfile().makedirs(path)
    else:
        os.makedirs(path, exist_ok=True)


def glob(pattern: str) -> list[str]:
    return sorted(_gfile().glob(pattern) if is_remote(pattern) else _glob.glob(pattern))


def remove(path: str) -> None:
    if is_remote(path):
        _gfile().remove(path)
    else:
        os.unlink(path)


def remove_if_exists(path: str) -> None:
    try:
        remove(path)
    except (FileNotFoundError, OSError) as e:
        if exists(path):
            raise e


def rmtree(path: str) -> None:
    """Remove a folder and everything in it; nothing happens when it is not there."""
    if is_remote(path):
        if _gfile().exists(path):
            _gfile().rmtree(path)
    else:
        shutil.rmtree(path, ignore_errors=True)


def rename(src: str, dst: str) -> None:
    """Move `src` to `dst`, replacing `dst`."""
    if is_remote(src) or is_remote(dst):
        _gfile().rename(src, dst, overwrite=True)
    else:
        os.replace(src, dst)


def size(path: str) -> int:
    return _gfile().stat(path).length if is_remote(path) else os.path.getsize(path)


def open_file(path: str, mode: str = "rb") -> IO:
    """A file object; binary or text by `mode` as for `open` (text is UTF-8)."""
    if is_remote(path):
        return _gfile().GFile(path, mode)
    return open(path, mode) if "b" in mode else open(path, mode, encoding="utf-8")


def temporary_name(path: str) -> str:
    """A name beside `path` that no other process picks: `<path>.tmp-<pid>-<random>`."""
    return f"{path}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def write_bytes_atomic(path: str, payload: bytes) -> None:
    """Write `payload` under a temporary name beside `path`, then rename it to `path`."""
    tmp = temporary_name(path)
    try:
        with open_file(tmp, "wb") as f:
            f.write(payload)
        rename(tmp, path)
    except BaseException:
        remove_if_exists(tmp)
        raise


def write_text_atomic(path: str, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def read_text(path: str) -> str:
    with open_file(path, "rb") as f:
        return f.read().decode("utf-8")
