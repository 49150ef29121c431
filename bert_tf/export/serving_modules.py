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
