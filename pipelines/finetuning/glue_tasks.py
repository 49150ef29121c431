"""The GLUE tasks by name: where their columns are, what kind of labels, which metrics GLUE reports.

A task may come in several layouts (GLUE's own TSVs, Hugging Face `glue/*` exports, or no header for
CoLA); the layout is picked by the file's first row. `primary` is the metric that picks the best
checkpoint.
"""

from __future__ import annotations

import dataclasses

from pipelines.finetuning.errors import FinetuneDataError
from pipelines.finetuning.tables import first_row, table_format


@dataclasses.dataclass(frozen=True)
class Layout:
    text: str | int
    text_b: str | int | None
    label: str | int
    header: bool = True


@dataclasses.dataclass(frozen=True)
class GlueTask:
    name: str
    layouts: tuple[Layout, ...]
    metrics: tuple[str, ...]
    regression: bool = False

    @property
    def primary(self) -> str:
        return self.metrics[0]

    def layout_for(self, path: str) -> Layout:
        row = first_row(path)
        if row is None:
            raise FinetuneDataError(f"{path}: no data rows (the file is empty)")
        fields = set(row) if isinstance(row, dict) else {c.strip() for c in row}
        for layout in self.layouts:
            names = [c for c in (layout.text, layout.text_b, layout.label) if isinstance(c, str)]
            if layout.header and names and all(n in fields for n in names):
                return layout
        for layout in self.layouts:
            if not layout.header and table_format(path) == "tsv" and not isinstance(row, dict):
                return layout
        known = "; ".join(", ".join(str(c) for c in (l.text, l.text_b, l.label) if c is not None)
                          for l in self.layouts if l.header)
        raise FinetuneDataError(f"{path}: the first row does not look like a {self.name} file: expected "
                                f"columns {known}; give --text-column/--text-b-column/--label-column")


GLUE_TASKS: dict[str, GlueTask] = {t.name: t for t in (
    GlueTask("sst2", (Layout("sentence", None, "label"),), ("accuracy",)),
    GlueTask("cola", (Layout("sentence", None, "label"), Layout(3, None, 1, header=False)), ("mcc", "accuracy")),
    GlueTask("mrpc", (Layout("#1 String", "#2 String", "Quality"), Layout("sentence1", "sentence2", "label")),
             ("f1", "accuracy")),
    GlueTask("qqp", (Layout("question1", "question2", "is_duplicate"), Layout("question1", "question2", "label")),
             ("f1", "accuracy")),
    GlueTask("stsb", (Layout("sentence1", "sentence2", "score"), Layout("sentence1", "sentence2", "label")),
             ("pearson", "spearman"), regression=True),
    GlueTask("mnli", (Layout("sentence1", "sentence2", "gold_label"), Layout("premise", "hypothesis", "label")),
             ("accuracy",)),
    GlueTask("qnli", (Layout("question", "sentence", "label"),), ("accuracy",)),
    GlueTask("rte", (Layout("sentence1", "sentence2", "label"),), ("accuracy",)),
)}
