"""The `tf.Module`s we save for TF Serving: text in, task outputs out, with three signatures each.

- `serving_default`: raw strings (`text`, plus `text_b` for pairs; SQuAD: `question`, `context`) are cleaned
  (invalid UTF-8 replaced by U+FFFD, which the tokenizer drops, as the original's decoder skips bad bytes),
  tokenized and packed in the graph, cut to the batch's longest row (a short request does not pay for the
  full sequence length), then run through the model.
- `serve_examples`: serialized `tf.Example`s with the same string features, then as `serving_default`.
- `serve_ids`: the three int32 inputs, numeric outputs only: the accelerator part (XLA-compilable; no strings).

Texts longer than the sequence length are truncated (the original's longest-first for pairs), never an error;
an empty string is `[CLS] [SEP]`; a batch of zero gives zero rows.
"""

from __future__ import annotations

import tensorflow as tf

from bert_tf.models.encoder import ENCODER_INPUTS

_IDS_SPEC = [tf.TensorSpec([None, None], tf.int32, name=n) for n in ENCODER_INPUTS]


def track_variables(module: tf.Module, model) -> None:
    """Track the model's `tf.Variable`s themselves, not only through the Keras layers: otherwise the SavedModel's
    TF1 restore path (TF Serving, `saved_model_cli run`) does not initialise them ("Could not find variable")."""
    module.model_variables = [v.value for v in model.variables]


def clean_utf8(text: tf.Tensor) -> tf.Tensor:
    return tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD)


def cut_to_longest(inputs: dict[str, tf.Tensor], minimum: int = 2) -> dict[str, tf.Tensor]:
    """Drop the padding columns no row of this batch needs."""
    lengths = tf.concat([tf.reduce_sum(inputs["input_mask"], axis=1), [minimum]], axis=0)  # defined for 0 rows
    length = tf.reduce_max(lengths)
    return {k: v[:, :length] for k, v in inputs.items()}


class _TextServing(tf.Module):
    def __init__(self, model, tokenizer, seq_length: int):
        super().__init__()
        self.model, self.tokenizer, self.seq_length = model, tokenizer, seq_length
        track_variables(self, model)

    def pack(self, text, text_b=None):
        text_b = None if text_b is None else clean_utf8(text_b)
        return cut_to_longest(self.tokenizer.pack(clean_utf8(text), text_b, seq_length=self.seq_length))


class ClassifierServing(_TextServing):
    """Classification (`probabilities`, `logits`, `label`, `label_id`) or regression (`score`)."""

    def __init__(self, model, tokenizer, seq_length: int, labels: list[str] | None, pair: bool):
        super().__init__(model, tokenizer, seq_length)
        self.regression = labels is None
        self.pair = pair
        self.label_names = tf.constant(labels or [""])
        text_spec = [tf.TensorSpec([None], tf.string, name="text")]
        if pair:
            text_spec.append(tf.TensorSpec([None], tf.string, name="text_b"))
        self.serve_text = tf.function(self._serve_text, input_signature=text_spec)
        self.serve_examples = tf.function(self._serve_examples,
                                          input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        self.serve_ids = tf.function(self._serve_ids, input_signature=_IDS_SPEC)

    def _numeric(self, inputs):
        logits = tf.cast(self.model(inputs, training=False), tf.float32)
        if self.regression:
            return {"score": logits[:, 0]}
        return {"logits": logits, "probabilities": tf.nn.softmax(logits, axis=-1),
                "label_id": tf.argmax(logits, axis=-1, output_type=tf.int32)}

    def _with_label(self, out):
        if not self.regression:
            out["label"] = tf.gather(self.label_names, out["label_id"])
        return out

    def _serve_ids(self, input_word_ids, input_mask, input_type_ids):
        return self._numeric({"input_word_ids": input_word_ids, "input_mask": input_mask,
                              "input_type_ids": input_type_ids})

    def _serve_text(self, text, text_b=None):
        return self._with_label(self._numeric(self.pack(text, text_b)))

    def _serve_examples(self, examples):
        spec = {"text": tf.io.FixedLenFeature([], tf.string, default_value="")}
        if self.pair:
            spec["text_b"] = tf.io.FixedLenFeature([], tf.string, default_value="")
        features = tf.io.parse_example(examples, spec)
        return self._serve_text(features["text"], features.get("text_b"))

    def signatures(self) -> dict:
        return {"serving_default": self.serve_text, "serve_examples": self.serve_examples,
                "serve_ids": self.serve_ids}


class SpanServing(_TextServing):
    """Extractive QA: `question` and `context` in; `start_logits`, `end_logits`, the decoded `answer` and its `score`.

    One window per question: the question is cut to `max_query_length` pieces and the context to what is left
    (longer contexts are truncated; the windowed post-processing of `bert-tf predict` covers long documents).
    The answer is the best span inside the context with start <= end < start + `max_answer_length`, by
    start + end logit, cut from the original context string with the piece byte offsets; where the fast path's
    pieces differ from the exact tokenizer's (rare text), the answer is the normalised piece text instead.
    """

    def __init__(self, model, tokenizer, seq_length: int, max_query_length: int = 64, max_answer_length: int = 30):
        super().__init__(model, tokenizer, seq_length)
        self.max_query_length, self.max_answer_length = max_query_length, max_answer_length
        spec = [tf.TensorSpec([None], tf.string, name="question"), tf.TensorSpec([None], tf.string, name="context")]
        self.serve_text = tf.function(self._serve_text, input_signature=spec)
        self.serve_examples = tf.function(self._serve_examples,
                                          input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        self.serve_ids = tf.function(self._serve_ids, input_signature=_IDS_SPEC)

    def _logits(self, inputs):
        out = self.model(inputs, training=False)
        return tf.cast(out["start_logits"], tf.float32), tf.cast(out["end_logits"], tf.float32)

    def _serve_ids(self, input_word_ids, input_mask, input_type_ids):
        start, end = self._logits({"input_word_ids": input_word_ids, "input_mask": input_mask,
                                   "input_type_ids": input_type_ids})
        return {"start_logits": start, "end_logits": end}

    def _serve_text(self, question, context):
        question, context = clean_utf8(question), clean_utf8(context)
        query = self.tokenizer.tokenize(question)[:, :self.max_query_length]
        doc = self.tokenizer.tokenize(context)
        inputs = cut_to_longest(self.tokenizer.pack(query, doc, seq_length=self.seq_length, truncation="waterfall"))
        start, end = self._logits(inputs)
        seq = tf.shape(start)[1]
        offset = tf.cast(query.row_lengths(), tf.int32) + 2  # [CLS] question [SEP]
        kept = tf.minimum(tf.cast(doc.row_lengths(), tf.int32), self.seq_length - offset - 1)
        position = tf.range(seq)[None, :]
        in_context = (position >= offset[:, None]) & (position < (offset + kept)[:, None])
        very_low = tf.constant(-1e9, tf.float32)
        start_ok = tf.where(in_context, start, very_low)
        end_ok = tf.where(in_context, end, very_low)
        pair = start_ok[:, :, None] + end_ok[:, None, :]
        span = position[0][None, :] - position[0][:, None]  # j - i
        allowed = (span >= 0) & (span < self.max_answer_length)
        pair = tf.where(allowed[None], pair, very_low)
        flat = tf.reshape(pair, [tf.shape(pair)[0], -1])
        best = tf.argmax(flat, axis=1, output_type=tf.int32)
        score = tf.reduce_max(flat, axis=1)
        first_piece, last_piece = best // seq - offset, best % seq - offset
        # Byte offsets from the fast tokenizer; used where its pieces are the exact tokenizer's pieces.
        fast_ids, starts, ends = self.tokenizer._fast.tokenize_with_offsets(context)
        same = tf.reduce_all(tf.equal(tf.cast(fast_ids, tf.int32).to_tensor(-1),
                                      tf.cast(doc, tf.int32).to_tensor(-1)), axis=1) & tf.equal(
            fast_ids.row_lengths(), doc.row_lengths())
        first_piece = tf.clip_by_value(first_piece, 0, tf.maximum(kept - 1, 0))
        last_piece = tf.clip_by_value(last_piece, 0, tf.maximum(kept - 1, 0))
        begin = tf.gather(starts.to_tensor(0), first_piece, batch_dims=1)
        finish = tf.gather(ends.to_tensor(0), last_piece, batch_dims=1)
        cut = tf.strings.substr(context, tf.cast(begin, tf.int32), tf.cast(finish - begin, tf.int32))
        piece_range = tf.ragged.range(first_piece, last_piece + 1)
        pieces = tf.gather(doc.to_tensor(0), piece_range, batch_dims=1)
        normalised = self.tokenizer.detokenize(pieces)
        answer = tf.where(same, cut, normalised)
        answer = tf.where(kept > 0, answer, tf.zeros_like(answer))
        return {"start_logits": start, "end_logits": end, "answer": answer, "score": score}

    def _serve_examples(self, examples):
        spec = {k: tf.io.FixedLenFeature([], tf.string, default_value="") for k in ("question", "context")}
        features = tf.io.parse_example(examples, spec)
        return self._serve_text(features["question"], features["context"])

    def signatures(self) -> dict:
        return {"serving_default": self.serve_text, "serve_examples": self.serve_examples,
                "serve_ids": self.serve_ids}


class TaggerServing(_TextServing):
    """Token tagging: `text` in (split into words on whitespace), per-word `tags` and `words` out (padded with "").

    A word's tag is read at its first piece; words beyond the sequence length, and words with no pieces, get `O`
    (or the first label).
    """

    def __init__(self, model, tokenizer, seq_length: int, labels: list[str]):
        super().__init__(model, tokenizer, seq_length)
        self.label_names = tf.constant(labels)
        self.outside = tf.constant("O" if "O" in labels else labels[0])
        self.serve_text = tf.function(self._serve_text, input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        self.serve_examples = tf.function(self._serve_examples,
                                          input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        self.serve_ids = tf.function(self._serve_ids, input_signature=_IDS_SPEC)

    def _serve_ids(self, input_word_ids, input_mask, input_type_ids):
        logits = tf.cast(self.model({"input_word_ids": input_word_ids, "input_mask": input_mask,
                                     "input_type_ids": input_type_ids}, training=False), tf.float32)
        return {"logits": logits, "label_ids": tf.argmax(logits, axis=-1, output_type=tf.int32)}

    def _serve_text(self, text):
        words = tf.strings.split(clean_utf8(text))  # [batch, (words)]
        pieces = self.tokenizer.tokenize(words.flat_values)  # [words, (pieces)]
        counts = tf.cast(pieces.row_lengths(), tf.int32)
        per_row = words.with_flat_values(counts)
        ends = tf.math.cumsum(per_row, axis=1)  # pieces used up to and including each word
        keep = ends <= self.seq_length - 2
        first = ends - per_row + 1  # position of each word's first piece ([CLS] is 0)
        kept_pieces = tf.ragged.boolean_mask(
            tf.RaggedTensor.from_row_splits(pieces, words.row_splits), keep)
        inputs = cut_to_longest(self.tokenizer.pack(kept_pieces.merge_dims(1, 2), seq_length=self.seq_length))
        logits = tf.cast(self.model(inputs, training=False), tf.float32)
        best = tf.argmax(logits, axis=-1, output_type=tf.int32)  # [batch, seq]
        width = tf.shape(best)[1]
        position = tf.clip_by_value(first, 0, width - 1).to_tensor(0)
        label = tf.gather(self.label_names, tf.gather(best, position, batch_dims=1))
        valid = (keep & (per_row > 0)).to_tensor(False)
        tags = tf.where(valid, label, self.outside)
        present = tf.sequence_mask(words.row_lengths(), tf.shape(tags)[1])
        return {"tags": tf.where(present, tags, ""), "words": words.to_tensor(""), "logits": logits}

    def _serve_examples(self, examples):
        features = tf.io.parse_example(examples, {"text": tf.io.FixedLenFeature([], tf.string, default_value="")})
        return self._serve_text(features["text"])

    def signatures(self) -> dict:
        return {"serving_default": self.serve_text, "serve_examples": self.serve_examples,
                "serve_ids": self.serve_ids}
