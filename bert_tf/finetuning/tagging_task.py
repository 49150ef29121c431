"""Token tagging (CoNLL NER): first-piece labels, entity-level F1 by conlleval's rules, word-level predictions."""

from __future__ import annotations

import tensorflow as tf

from bert_tf.finetuning.errors import FinetuneError
from bert_tf.finetuning.holdout import holdout_split
from bert_tf.finetuning.inference import predict_in_order
from bert_tf.metrics.conlleval import entity_scores
from pipelines.finetuning.batching import bucketed_batches, split_features
from pipelines.finetuning.conll import TaggedSentences, read_conll, tagging_features
from pipelines.finetuning.sentences import batches_per_pass


def infer_tag_list(tags: list[list[str]]) -> list[str]:
    """`O` first, then the entity tags sorted by type and prefix (B- before I-)."""
    distinct = {t for sentence in tags for t in sentence}
    others = sorted(distinct - {"O"}, key=lambda t: (t[2:] if t[1:2] == "-" else t, t))
    return (["O"] if "O" in distinct else []) + others


class TaggingTask:
    metric_names = ("f1", "precision", "recall", "accuracy")
    primary = "f1"

    def __init__(self, options, tokenizer, meta: dict | None = None):
        self.options, self.tokenizer = options, tokenizer
        self.meta = dict(meta or {})
        self.label_list = self.meta.get("labels")
        self.train_data = self.eval_table = None

    def load_data(self) -> None:
        o = self.options
        self.train_data = read_conll(o.train, limit=o.train_limit)
        self.eval_table = read_conll(o.eval) if o.eval else None
        if self.eval_table is None and o.eval_fraction > 0:
            kept, held = holdout_split(len(self.train_data), o.eval_fraction, o.seed)
            self.train_data, self.eval_table = _subset(self.train_data, kept), _subset(self.train_data, held)
        self.label_list = list(o.labels) if o.labels else infer_tag_list(self.train_data.tags)
        if len(self.label_list) < 2:
            raise FinetuneError(f"{o.train}: only one tag in the training data")
        self.meta.update(labels=self.label_list)
        self.train_features = tagging_features(self.tokenizer, self.train_data, o.max_seq_length, self.label_list)
        if self.eval_table is not None:  # unknown eval tags fail here, before training
            tagging_features(self.tokenizer, self.eval_table, o.max_seq_length, self.label_list)

    def _examples(self, features) -> tf.data.Dataset:
        return tf.data.Dataset.from_tensor_slices(features.arrays)

    def train_batches(self):
        o = self.options
        examples = self._examples(self.train_features)
        steps = batches_per_pass(examples, o.batch_size, o.max_seq_length, o.bucket)
        data = bucketed_batches(examples.cache().shuffle(100_000, seed=o.seed, reshuffle_each_iteration=True),
                                o.batch_size, o.max_seq_length, o.bucket).prefetch(tf.data.AUTOTUNE)
        return data.repeat().map(lambda b: split_features(b, ("label_ids",), "label_weights")), steps, \
            len(self.train_data)

    def build_model(self, encoder):
        from bert_tf.models import BertTokenClassifier
        return BertTokenClassifier(encoder, len(self.label_list), dropout=self.options.dropout)

    def loss(self):
        import keras
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="mean_with_sample_weight"), None

    def predict_tags(self, model, sentences: TaggedSentences) -> tuple[list[list[str]], object]:
        o = self.options
        features = tagging_features(self.tokenizer, sentences, o.max_seq_length, None)
        data = bucketed_batches(self._examples(features), o.eval_batch_size or 2 * o.batch_size, o.max_seq_length,
                                o.bucket)
        logits = predict_in_order(model, data, len(sentences))["logits"]
        predicted = []
        for positions, row in zip(features.first_piece, logits):
            best = row.argmax(-1)
            predicted.append([self.label_list[int(best[p])] if p >= 0 else "O" for p in positions])
        return predicted, features

    def evaluate(self, model, sentences: TaggedSentences | None = None) -> dict:
        sentences = sentences if sentences is not None else self.eval_table
        tagging_features(self.tokenizer, sentences, self.options.max_seq_length, self.label_list)  # tag check
        predicted, features = self.predict_tags(model, sentences)
        scores = entity_scores(sentences.tags, predicted)
        result = {k: scores[k] for k in ("f1", "precision", "recall", "accuracy")}
        result.update({f"{t}_f1": v["f1"] for t, v in scores["per_type"].items()})
        result.update(examples=len(sentences), truncated_sentences=features.truncated_sentences)
        return result

    def evaluate_file(self, model, path: str) -> dict:
        return self.evaluate(model, read_conll(path))

    def predict_file(self, model, path: str) -> list[dict]:
        sentences = read_conll(path, with_tags=False)
        predicted, _ = self.predict_tags(model, sentences)
        return [{"line": line, "words": words, "tags": tags}
                for line, words, tags in zip(sentences.lines, sentences.words, predicted)]

    def predict_texts(self, model, texts: list[str], texts_b=None) -> list[dict]:
        sentences = TaggedSentences("<command line>", [t.split() for t in texts], None, list(range(1, len(texts) + 1)))
        predicted, _ = self.predict_tags(model, sentences)
        return [{"words": w, "tags": t} for w, t in zip(sentences.words, predicted)]


def _subset(data: TaggedSentences, rows) -> TaggedSentences:
    return TaggedSentences(data.path, [data.words[i] for i in rows], [data.tags[i] for i in rows],
                           [data.lines[i] for i in rows])
