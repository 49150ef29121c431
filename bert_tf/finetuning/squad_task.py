"""Extractive question answering (SQuAD v1.1 / v2.0): windows, span model, original post-processing,
official EM/F1."""

from __future__ import annotations

import tensorflow as tf

from bert_tf.finetuning.errors import FinetuneError
from bert_tf.finetuning.holdout import holdout_split
from bert_tf.finetuning.inference import predict_in_order
from bert_tf.metrics.squad import squad_v1_scores, squad_v2_scores
from bert_tf.models.encoder import ENCODER_INPUTS
from pipelines.finetuning.batching import bucketed_batches
from pipelines.finetuning.sentences import batches_per_pass
from pipelines.finetuning.squad import SquadData, SquadExample, read_squad, split_context, squad_features
from pipelines.finetuning.squad_answers import best_answers


class SquadTask:
    def __init__(self, options, tokenizer, meta: dict | None = None):
        self.options, self.tokenizer = options, tokenizer
        self.meta = dict(meta or {})
        self.version_2 = self.meta.get("version_2", options.version_2)
        self.train_data = self.eval_table = None

    @property
    def metric_names(self) -> tuple[str, ...]:
        return ("f1", "exact") if self.version_2 else ("f1", "exact_match")

    primary = "f1"

    def _features(self, data: SquadData, training: bool):
        o = self.options
        return squad_features(self.tokenizer, data, o.max_seq_length, o.doc_stride, o.max_query_length, training)

    def load_data(self) -> None:
        o = self.options
        self.train_data = read_squad(o.train, training=True, limit=o.train_limit)
        self.eval_table = read_squad(o.eval, training=False) if o.eval else None
        if self.eval_table is None and o.eval_fraction > 0:
            examples = self.train_data.examples
            kept, held = holdout_split(len(examples), o.eval_fraction, o.seed)
            self.eval_table = SquadData(o.train, [examples[i] for i in held], self.train_data.version_2, [])
            self.train_data = SquadData(o.train, [examples[i] for i in kept],
                                        self.train_data.version_2, self.train_data.skipped)
        if self.version_2 is None:
            self.version_2 = self.train_data.version_2 or bool(self.eval_table and self.eval_table.version_2)
        if self.train_data.skipped:
            shown = ", ".join(self.train_data.skipped[:5])
            print(f"{o.train}: skipped {len(self.train_data.skipped)} question(s) whose answer_start does not "
                  f"point at the answer text ({shown}{', ...' if len(self.train_data.skipped) > 5 else ''})")
        self.meta.update(version_2=self.version_2, skipped_questions=len(self.train_data.skipped))
        self.train_features = self._features(self.train_data, training=True)
        if self.eval_table is not None:
            self.eval_features = self._features(self.eval_table, training=False)

    def train_batches(self):
        o = self.options
        examples = tf.data.Dataset.from_tensor_slices(self.train_features.arrays)
        steps = batches_per_pass(examples, o.batch_size, o.max_seq_length, o.bucket)
        data = bucketed_batches(examples.cache().shuffle(100_000, seed=o.seed, reshuffle_each_iteration=True),
                                o.batch_size, o.max_seq_length, o.bucket).prefetch(tf.data.AUTOTUNE)
        return data.repeat().map(_fit_tuple), steps, len(self.train_data.examples)

    def build_model(self, encoder):
        from bert_tf.models import BertSpanLabeler
        return BertSpanLabeler(encoder, dropout=self.options.dropout)  # --dropout (0.1) before the span head too

    def loss(self):
        import keras
        ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="mean_with_sample_weight")
        # The original's loss: the mean of the start and end cross-entropies.
        return {"start_logits": ce, "end_logits": ce}, {"start_logits": 0.5, "end_logits": 0.5}

    def answers(self, model, data: SquadData, features=None):
        o = self.options
        features = features or self._features(data, training=False)
        batches = bucketed_batches(tf.data.Dataset.from_tensor_slices(
            {k: v for k, v in features.arrays.items() if k not in ("start_positions", "end_positions")}),
            o.eval_batch_size or 2 * o.batch_size, o.max_seq_length, o.bucket)
        out = predict_in_order(model, batches, len(features.example_index))
        return best_answers(data, features, out["start_logits"], out["end_logits"], self.tokenizer, o.n_best_size,
                            o.max_answer_length, bool(self.version_2), o.null_score_diff_threshold)

    def evaluate(self, model, data: SquadData | None = None) -> dict:
        features = None
        if data is None:
            data, features = self.eval_table, self.eval_features
        predictions, _ = self.answers(model, data, features)
        gold = {e.qid: list(e.answers) for e in data.examples}
        scores = squad_v2_scores(gold, predictions) if self.version_2 else squad_v1_scores(gold, predictions)
        scores["examples"] = len(data.examples)
        return scores

    def evaluate_file(self, model, path: str) -> dict:
        return self.evaluate(model, read_squad(path, training=False))

    def predict_file(self, model, path: str) -> list[dict]:
        data = read_squad(path, training=False)
        predictions, nbest = self.answers(model, data)
        return [{"id": qid, "answer": text, "n_best": nbest[qid][:5]} for qid, text in predictions.items()]

    def predict_texts(self, model, texts: list[str], texts_b: list[str] | None = None) -> list[dict]:
        if not texts_b or len(texts_b) != len(texts):
            raise FinetuneError("SQuAD prediction needs --text CONTEXT and --text-b QUESTION for each question")
        examples = [SquadExample(str(i + 1), q, split_context(c)[0], []) for i, (c, q) in enumerate(zip(texts, texts_b))]
        predictions, nbest = self.answers(model, SquadData("<command line>", examples, False, []))
        return [{"question": q, "answer": predictions[str(i + 1)], "n_best": nbest[str(i + 1)][:5]}
                for i, q in enumerate(texts_b)]


def _fit_tuple(batch):
    """`(inputs, targets, weights)` keyed by the model's output names."""
    inputs = {k: batch[k] for k in ENCODER_INPUTS}
    targets = {"start_logits": batch["start_positions"], "end_logits": batch["end_positions"]}
    return inputs, targets, {"start_logits": batch["weight"], "end_logits": batch["weight"]}
