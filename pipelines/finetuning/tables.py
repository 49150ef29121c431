"""Read GLUE-style tables: TSV (quoting off: GLUE files hold bare quotes), CSV (quoted) or JSON lines.

Columns are named (the file then needs a header row) or 0-based indices. A UTF-8 byte-order mark is
tolerated (MRPC has one). A row with a different number of fields from the first row, a missing
column or an empty file is an error that names the file and line, never a silently shifted column.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
from typing import Iterator, Sequence

from pipelines.finetuning.errors import FinetuneDataError

Column = str | int


@dataclasses.dataclass
class TextTable:
    """The texts (and labels, when there is a label column) of one file, with each row's line number."""

    path: str
    text_a: list[str]
    text_b: list[str] | None
    labels: list[str] | None
    lines: list[int]

    def __len__(self) -> int:
        return len(self.text_a)

    def subset(self, rows: Sequence[int]) -> "TextTable":
        pick = lambda values: None if values is None else [values[i] for i in rows]  # noqa: E731
        return TextTable(self.path, pick(self.text_a), pick(self.text_b), pick(self.labels), pick(self.lines))


def table_format(path: str) -> str:
    name = os.path.basename(path).lower()
    for suffix, kind in ((".jsonl", "jsonl"), (".json", "jsonl"), (".csv", "csv")):
        if name.endswith(suffix):
            return kind
    return "tsv"


def _rows(path: str, kind: str) -> Iterator[tuple[int, list[str] | dict]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        if kind == "jsonl":
            for number, line in enumerate(f, 1):
                if line.strip():
                    try:
                        yield number, json.loads(line)
                    except json.JSONDecodeError as e:
                        raise FinetuneDataError(f"{path}:{number}: not a JSON object ({e.msg})") from None
            return
        if kind == "csv":
            reader = csv.reader(f)
            for row in reader:
                yield reader.line_num, row
            return
        for number, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if line:
                yield number, line.split("\t")


def parse_column(spec: str | int | None) -> Column | None:
    """`"3"` -> 3 (an index), `"sentence"` -> a name, None/"" -> None."""
    if spec is None or spec == "":
        return None
    if isinstance(spec, int):
        return spec
    return int(spec) if spec.lstrip("-").isdigit() else spec


def read_table(path: str, text_column: Column, text_b_column: Column | None = None,
               label_column: Column | None = None, header: bool = True, limit: int | None = None) -> TextTable:
    """Read `path` (TSV, CSV or JSONL by extension) into a `TextTable`.

    `header=True` (GLUE's files all have one) skips the first row and lets columns be named; JSON
    lines are always read by key. `limit` keeps the first `limit` data rows.
    """
    if not os.path.isfile(path):
        raise FinetuneDataError(f"{path}: no such file")
    kind = table_format(path)
    columns = {"text": text_column, "text_b": text_b_column, "label": label_column}
    wanted = {k: v for k, v in columns.items() if v is not None}
    text_a, text_b, labels, lines = [], [] if text_b_column is not None else None, [], []
    index: dict[str, int] = {}
    width = None
    for number, row in _rows(path, kind):
        if kind == "jsonl":
            if not isinstance(row, dict):
                raise FinetuneDataError(f"{path}:{number}: expected a JSON object per line")
            missing = [str(v) for v in wanted.values() if str(v) not in row]
            if missing:
                raise FinetuneDataError(f"{path}:{number}: no field {', '.join(missing)} "
                                        f"(fields: {', '.join(row)})")
            values = {k: row[str(v)] for k, v in wanted.items()}
        else:
            if width is None:
                width = len(row)
                if header:
                    index = _resolve(path, number, row, wanted)
                    continue
                index = _resolve(path, number, None, wanted, width)
            if len(row) != width:
                raise FinetuneDataError(
                    f"{path}:{number}: ragged row: {len(row)} {'tab-separated ' if kind == 'tsv' else ''}fields "
                    f"where the first row has {width}")
            values = {k: row[i] for k, i in index.items()}
        text_a.append(_text(values["text"], path, number))
        if text_b is not None:
            text_b.append(_text(values["text_b"], path, number))
        if label_column is not None:
            labels.append(str(values["label"]).strip())
        lines.append(number)
        if limit is not None and len(text_a) >= limit:
            break
    if not text_a:
        raise FinetuneDataError(f"{path}: no data rows" + (" (only a header)" if width is not None else
                                                             " (the file is empty)"))
    return TextTable(path, text_a, text_b, labels if label_column is not None else None, lines)


def _text(value, path: str, number: int) -> str:
    if value is None:
        raise FinetuneDataError(f"{path}:{number}: empty text field")
    return str(value)


def _resolve(path: str, number: int, header: list[str] | None, wanted: dict[str, Column],
             width: int | None = None) -> dict[str, int]:
    """Column indices for the wanted fields, from names in the header row or from indices."""
    width = len(header) if header is not None else width
    names = [h.strip() for h in header] if header is not None else None
    index = {}
    for field, spec in wanted.items():
        if isinstance(spec, int):
            if not -width <= spec < width:
                raise FinetuneDataError(f"{path}:{number}: --{field.replace('_', '-')}-column {spec} is out of "
                                        f"range: the rows have {width} fields")
            index[field] = spec % width
        elif names is None:
            raise FinetuneDataError(f"{path}: column {spec!r} is a name but the file is read without a header; "
                                    f"give a 0-based index")
        elif spec not in names:
            raise FinetuneDataError(f"{path}:{number}: no column named {spec!r} in the header "
                                    f"({', '.join(repr(n) for n in names)})")
        else:
            index[field] = names.index(spec)
    return index


def first_row(path: str) -> list[str] | dict | None:
    """The first row of a table (its header, when it has one), or None for an empty file."""
    if not os.path.isfile(path):
        raise FinetuneDataError(f"{path}: no such file")
    for _, row in _rows(path, table_format(path)):
        return row
    return None
