"""Reading text corpora: globs of plain or gzip files, streamed line by line, UTF-8 checked.

Corpora can be larger than memory, so nothing here reads a whole file. Gzip is recognised by its
magic bytes, not its name. A byte sequence that is not UTF-8 stops the read with an error naming
the file, the line and the byte offset (in the decompressed stream for gzip files), instead of
silently dropping text as `errors="ignore"` would. A UTF-8 byte-order mark at the start of a file
and Windows line endings are accepted.
"""

from __future__ import annotations

import glob
import gzip
import io
import os
from typing import Callable, Iterable, Iterator


class TextInputError(ValueError):
    """An input file cannot be read as UTF-8 text; the message names the file, line and byte."""


def expand_inputs(patterns: str | Iterable[str]) -> list[str]:
    """Files matching one or more glob patterns (a string may hold several, comma-separated), sorted.

    Each pattern must match at least one file, so a typo is an error rather than an empty corpus.
    Paths with a scheme (`gs://...`) are globbed with `tf.io.gfile`.
    """
    if isinstance(patterns, str):
        patterns = [p for p in patterns.split(",") if p.strip()]
    files: list[str] = []
    for pattern in patterns:
        pattern = pattern.strip()
        if "://" in pattern:
            import tensorflow as tf
            matches = sorted(tf.io.gfile.glob(pattern))
        else:
            matches = sorted(p for p in glob.glob(os.path.expanduser(pattern)) if os.path.isfile(p))
        if not matches:
            raise FileNotFoundError(f"no input file matches {pattern!r}")
        files.extend(matches)
    if not files:
        raise FileNotFoundError("no input files given")
    return list(dict.fromkeys(files))


def _open_binary(path: str) -> io.BufferedIOBase:
    if "://" in path:
        import tensorflow as tf
        raw = tf.io.gfile.GFile(path, "rb")
    else:
        raw = open(path, "rb")
    head = raw.read(2)
    raw.seek(0)
    if head == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    return _ByteLines(raw) if "://" in path else raw


class _ByteLines:
    """Lines of a `tf.io.gfile.GFile` as their exact bytes. GFile's own line iteration turns "\r\n" into
    "\n", which shifts every byte offset after it (and block plans are byte offsets); `read` does not."""

    def __init__(self, f):
        self._f = f

    def seek(self, offset: int) -> None:
        self._f.seek(offset)

    def __iter__(self):
        pending = b""
        while True:
            chunk = self._f.read(1 << 20)
            if not chunk:
                break
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            for line in lines:
                yield line + b"\n"
        if pending:
            yield pending

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._f.close()


def file_size(path: str) -> int:
    """Size on disk (compressed size for gzip), for progress reporting."""
    if "://" in path:
        import tensorflow as tf
        return tf.io.gfile.stat(path).length
    return os.path.getsize(path)


def iter_lines(path: str, on_bytes: Callable[[int], None] | None = None,
               on_bad_line: Callable[[str], None] | None = None) -> Iterator[str]:
    """The lines of one file as `str`, without line endings.

    `on_bytes(n)` is called now and then with the number of on-disk bytes read since the last call,
    so callers can show progress over compressed files too. A line that is not UTF-8 raises
    `TextInputError`, or, when `on_bad_line` is given, is skipped and reported to it (the message
    names the file, line and byte offset).
    """
    for line, _ in iter_line_spans(path, on_bytes=on_bytes, on_bad_line=on_bad_line):
        yield line


def iter_line_spans(path: str, start: int = 0, stop: int | None = None,
                    on_bytes: Callable[[int], None] | None = None,
                    on_bad_line: Callable[[str], None] | None = None) -> Iterator[tuple[str, int]]:
    """`(line, end)` for the lines of `path` from byte `start` (a line start) up to byte `stop` (a line
    end; None: the end of the file); `end` is the byte offset just past the line, in the decompressed
    stream for gzip. Planning a corpus records these offsets so that another process can read one
    block of it again (`pipelines/pretraining/block_plan.py`); seeking in a gzip file decompresses
    from its start, so such corpora should come in many small files."""
    offset = start
    with _open_binary(path) as f:
        if start:
            f.seek(start)
        disk = getattr(f, "fileobj", None)  # gzip: the compressed stream, for progress
        last_disk = disk.tell() if disk is not None else start
        for number, raw in enumerate(f, start=1):
            if stop is not None and offset >= stop:
                break
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                where = f"line {number}, " if start == 0 else ""
                message = (f"{path}: {where}byte offset {offset + e.start}: not valid UTF-8 "
                           f"(byte 0x{raw[e.start]:02x})")
                if on_bad_line is None:
                    raise TextInputError(message + "; convert the file to UTF-8") from None
                on_bad_line(message)
                offset += len(raw)
                continue
            if number == 1 and start == 0 and line.startswith("\ufeff"):
                line = line[1:]
            offset += len(raw)
            if on_bytes is not None and number % 1024 == 0:
                position = disk.tell() if disk is not None else offset
                on_bytes(position - last_disk)
                last_disk = position
            yield line.rstrip("\r\n"), offset
        if on_bytes is not None:
            position = disk.tell() if disk is not None else offset
            on_bytes(position - last_disk)


def iter_corpus(paths: Iterable[str], on_bytes: Callable[[int], None] | None = None) -> Iterator[str]:
    """The lines of several files, one after the other."""
    for path in paths:
        yield from iter_lines(path, on_bytes)

