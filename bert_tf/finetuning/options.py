"""Everything a fine-tuning run is told: the CLI flags, as one dataclass saved in the run directory."""

from __future__ import annotations

import dataclasses

TASKS = ("classify", "regress", "squad", "tag")


@dataclasses.dataclass
class FinetuneOptions:
    task: str
    init: str
    train: str | None
    output_dir: str
    eval: str | None = None
    eval_fraction: float = 0.0  # hold out this share of --train when there is no --eval file
    glue: str | None = None  # a GLUE task name: its columns, labels and metrics
    tfds: str | None = None  # e.g. glue/sst2, read from a locally prepared TFDS directory
    tfds_data_dir: str | None = None
    text_column: str | None = None
    text_b_column: str | None = None
    label_column: str | None = None
    header: bool = True
    labels: list[str] | None = None
    train_limit: int | None = None
    vocab: str | None = None  # when --init carries none
    lower_case: bool | None = None  # None: from the checkpoint or the vocab's casing
    max_seq_length: int = 128
    batch_size: int = 32
    eval_batch_size: int | None = None
    epochs: float = 3.0
    learning_rate: float = 5e-5
    warmup_proportion: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    adam_bias_correction: bool = False
    dropout: float = 0.1
    seed: int = 0
    strategy: str = "auto"
    tpu: str | None = None
    mixed_precision: str = "float32"
    jit_compile: bool = False
    bucket: bool = True
    eval_every_steps: int | None = None
    overwrite: bool = False
    # SQuAD
    doc_stride: int = 128
    max_query_length: int = 64
    max_answer_length: int = 30
    n_best_size: int = 20
    null_score_diff_threshold: float = 0.0
    version_2: bool | None = None  # None: from the data (any is_impossible question)

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"--task must be one of {', '.join(TASKS)}, not {self.task!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "FinetuneOptions":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})
