"""Per-step logs as JSON lines (`metrics.jsonl`, `eval_history.jsonl`) that stay true across a resume.

A resumed run restarts from its last checkpoint and trains the steps after it again; their old rows
would then appear twice, and a kill mid-write can leave a torn last line. `drop_rows_after_step` is
called once the checkpoint is restored, so the log only ever describes weights that exist.
"""

from __future__ import annotations

import json

from bert_tf import storage


def read_rows(path: str) -> list[dict]:
    """Every row of a JSON-lines log (blank lines skipped)."""
    return [json.loads(line) for line in storage.read_text(path).splitlines() if line.strip()]


def append_row(path: str, row: dict) -> None:
    """Add one JSON line. Object stores cannot append, so there the (small) file is rewritten."""
    line = json.dumps(row) + "\n"
    if storage.is_remote(path):
        previous = storage.read_text(path) if storage.exists(path) else ""
        storage.write_text_atomic(path, previous + line)
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(line)
        f.flush()


def drop_rows_after_step(path: str, step: int) -> int:
    """Remove rows whose `step` is past `step`, and lines that are not whole JSON rows; returns how many."""
    if not storage.exists(path):
        return 0
    kept, dropped = [], 0
    for line in storage.read_text(path).splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            dropped += 1
            continue
        if isinstance(row, dict) and isinstance(row.get("step"), int) and row["step"] <= step:
            kept.append(line + "\n")
        else:
            dropped += 1
    if dropped:
        storage.write_text_atomic(path, "".join(kept))
    return dropped
