"""Sentence and sentence-pair classification or regression (GLUE): data, model, loss, metrics, predictions."""

from __future__ import annotations

import numpy as np

from bert_tf.finetuning.errors import FinetuneError
from bert_tf.finetuning.holdout import holdout_split
from bert_tf.finetuning.inference import predict_in_order
from bert_tf.metrics.classification import classification_metrics
from pipelines.finetuning.batching import split_features
from pipelines.finetuning.glue_tasks import GLUE_TASKS
from pipelines.finetuning.labels import encode_labels, infer_label_list, parse_scores
from pipelines.finetuning.sentences import batched, batches_per_pass, sentence_examples
from pipelines.finetuning.tables import TextTable, parse_column, read_table


def _tfds_table(name: str, split: str, data_dir: str | None, limit: int | None) -> TextTable:
    """A prepared TFDS GLUE dataset (no download: `download=False`) as a table."""
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:
        raise FinetuneError("--tfds needs tensorflow-datasets (pip install tensorflow-datasets)") from e
    try:
        data = tfds.load(name, split=split, data_dir=data_dir, download=False)
    except Exception as e:  # noqa: BLE001  (TFDS raises several kinds for "not prepared")
        raise FinetuneError(f"--tfds {name} split {split}: cannot load it without downloading ({e}); prepare it "
                            f"with `tfds build {name}` where there is network, then pass --tfds-data-dir") from None
    keys = list(data.element_spec)
    pairs = [("sentence1", "sentence2"), ("question1", "question2"), ("premise", "hypothesis"),
             ("question", "sentence")]
    first, second = next(((a, b) for a, b in pairs if a in keys and b in keys), ("sentence", None))
    rows = list(data.take(limit) if limit else data)
    decode = lambda v: v.numpy().decode("utf-8")  # noqa: E731
    return TextTable(f"tfds:{name}/{split}", [decode(r[first]) for r in rows],
                     [decode(r[second]) for r in rows] if second else None,
                     [str(r["label"].numpy()) for r in rows], list(range(1, len(rows) + 1)))


class SentenceTask:
    """`classify` (softmax over labels) or `regress` (one score, mean squared error)."""

    def __init__(self, options, tokenizer, meta: dict | None = None):
        self.options, self.tokenizer = options, tokenizer
        self.regression = options.task == "regress"
        self.glue = GLUE_TASKS.get(options.glue) if options.glue else None
        if options.glue and self.glue is None:
            raise FinetuneError(f"--glue {options.glue!r}: known tasks are {', '.join(GLUE_TASKS)}")
        if self.glue and self.glue.regression != self.regression:
            raise FinetuneError(f"--glue {options.glue} is a {'regression' if self.glue.regression else 'classification'}"
                                f" task: use --task {'regress' if self.glue.regression else 'classify'}")
        self.meta = dict(meta or {})
        self.label_list = self.meta.get("labels")
        self.train_table = self.eval_table = None
        self.train_targets = self.eval_targets = None

    # ------------------------------------------------------------------------------------ data
    def read(self, path: str, with_labels: bool = True, limit: int | None = None) -> TextTable:
        o = self.options
        columns = [parse_column(c) for c in (o.text_column, o.text_b_column, o.label_column)]
        if columns[0] is None and self.glue is not None:
            layout = self.glue.layout_for(path)
            return read_table(path, layout.text, layout.text_b, layout.label if with_labels else None,
                              header=layout.header, limit=limit)
        if columns[0] is None:
            raise FinetuneError("give --text-column (and --label-column), or --glue NAME for a GLUE task")
        if with_labels and columns[2] is None:
            raise FinetuneError("give --label-column (a name or a 0-based index)")
        return read_table(path, columns[0], columns[1], columns[2] if with_labels else None, header=o.header,
                          limit=limit)

    def load_data(self) -> None:
        o = self.options
        if o.tfds:
            self.train_table = _tfds_table(o.tfds, "train", o.tfds_data_dir, o.train_limit)
            eval_split = "validation_matched" if o.tfds.endswith("mnli") else "validation"
            self.eval_table = _tfds_table(o.tfds, eval_split, o.tfds_data_dir, None)
        else:
            self.train_table = self.read(o.train, limit=o.train_limit)
            self.eval_table = self.read(o.eval) if o.eval else None
        if self.eval_table is None and o.eval_fraction > 0:
            kept, held = holdout_split(len(self.train_table), o.eval_fraction, o.seed)
            self.train_table, self.eval_table = self.train_table.subset(kept), self.train_table.subset(held)
        if not self.regression:
            self.label_list = list(o.labels) if o.labels else infer_label_list(self.train_table.labels)
            if len(self.label_list) < 2:
                raise FinetuneError(f"{self.train_table.path}: only one label ({self.label_list[0]!r}) in the "
                                    f"training data; classification needs two or more")
        self.meta.update(labels=self.label_list, glue=o.glue, pair=self.train_table.text_b is not None)
        self.train_targets = self.targets(self.train_table)
        self.eval_targets = self.targets(self.eval_table) if self.eval_table is not None else None

    def targets(self, table: TextTable):
        if self.regression:
            return parse_scores(table.labels, table.path, table.lines)
        return encode_labels(table.labels, self.label_list, table.path, table.lines)

    def train_batches(self):
        o = self.options
        examples = sentence_examples(self.train_table, self.tokenizer, o.max_seq_length, self.train_targets)
        steps = batches_per_pass(examples, o.batch_size, o.max_seq_length, o.bucket)
        data = batched(examples, o.batch_size, o.max_seq_length, training=True, seed=o.seed, bucket=o.bucket)
        return data.repeat().map(lambda b: split_features(b, ("label",))), steps, len(self.train_table)

    # ----------------------------------------------------------------------------------- model
    def build_model(self, encoder):
        from bert_tf.models import BertClassifier
        return BertClassifier(encoder, 1 if self.regression else len(self.label_list), dropout=self.options.dropout)

    def loss(self):
        import keras
        if self.regression:
            return keras.losses.MeanSquaredError(reduction="mean_with_sample_weight"), None
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="mean_with_sample_weight"), None

    # ------------------------------------------------------------------------------ evaluation
    @property
    def metric_names(self) -> tuple[str, ...]:
        if self.glue is not None:
            return self.glue.metrics
        if self.regression:
            return ("pearson", "spearman")
        return ("accuracy", "f1") if len(self.label_list) == 2 else ("accuracy",)

    @property
    def primary(self) -> str:
        return self.metric_names[0]

    def outputs(self, model, table: TextTable) -> np.ndarray:
        o = self.options
        examples = sentence_examples(table, self.tokenizer, o.max_seq_length)
        data = batched(examples, o.eval_batch_size or 2 * o.batch_size, o.max_seq_length, training=False,
                       bucket=o.bucket)
        return np.stack(predict_in_order(model, data, len(table))["logits"])

    def evaluate(self, model, table: TextTable | None = None, targets=None) -> dict[str, float]:
        if table is None:
            table, targets = self.eval_table, self.eval_targets
        elif targets is None:
            targets = self.targets(table)
        logits = self.outputs(model, table)
        predictions = logits[:, 0] if self.regression else logits.argmax(-1)
        result = classification_metrics(targets, predictions, self.metric_names)
        if self.regression:
            result["mse"] = float(np.mean((np.asarray(targets) - predictions) ** 2))
        result["examples"] = len(table)
        return result

    def predict(self, model, table: TextTable) -> list[dict]:
        logits = self.outputs(model, table)
        records = []
        for i, row in enumerate(logits):
            record = {"line": table.lines[i], "text": table.text_a[i]}
            if table.text_b is not None:
                record["text_b"] = table.text_b[i]
            if self.regression:
                record["score"] = float(row[0])
            else:
                probs = np.exp(row - row.max())
                probs /= probs.sum()
                record["label"] = self.label_list[int(row.argmax())]
                record["probabilities"] = {l: round(float(p), 6) for l, p in zip(self.label_list, probs)}
            records.append(record)
        return records

    def texts_table(self, texts: list[str], texts_b: list[str] | None = None) -> TextTable:
        return TextTable("<command line>", list(texts), list(texts_b) if texts_b else None, None,
                         list(range(1, len(texts) + 1)))

    # ------------------------------------------------------------------ evaluate / predict commands
    def evaluate_file(self, model, path: str) -> dict[str, float]:
        return self.evaluate(model, self.read(path))

    def predict_file(self, model, path: str) -> list[dict]:
        return self.predict(model, self.read(path, with_labels=False))

    def predict_texts(self, model, texts: list[str], texts_b: list[str] | None = None) -> list[dict]:
        if texts_b and len(texts_b) != len(texts):
            raise FinetuneError(f"{len(texts)} --text but {len(texts_b)} --text-b")
        return self.predict(model, self.texts_table(texts, texts_b))
