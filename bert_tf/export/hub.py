"""A TF Hub style pair for a pretrained encoder: `NAME_preprocess/<v>` and `NAME_encoder/<v>`.

The split of `bert_en_uncased_preprocess` / `bert_en_uncased_L-12_H-768_A-12`: text handling on the host, the
numeric encoder on any device. Both load with nothing but tensorflow and tensorflow-text:

    preprocess = tf.saved_model.load("saved_models/minilm_preprocess/1")
    encoder = tf.saved_model.load("saved_models/minilm_encoder/1")
    inputs = preprocess(tf.constant(["hello world"]))          # input_word_ids, input_mask, input_type_ids
    pieces = preprocess.tokenize(tf.constant(["a", "b"]))       # ragged [batch, words, pieces]
    pair = preprocess.bert_pack_inputs([pieces, pieces])        # seq_length fixed at export (default 128)
    outputs = encoder(inputs)                                   # pooled_output, sequence_output, encoder_outputs
    logits = encoder.mlm(dict(inputs, masked_lm_positions=...))["mlm_logits"]   # when the checkpoint has the head

As Keras layers in another program (Keras 3 has no hub.KerasLayer; `TFSMLayer` takes its place):

    keras.layers.TFSMLayer(".../minilm_encoder/1", call_endpoint="serve", call_training_endpoint="serve_training")
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from bert_tf.atomic import write_text_atomic
from bert_tf.export.serving_modules import clean_utf8, track_variables
from bert_tf.models.encoder import ENCODER_INPUTS

_TEXT = tf.TensorSpec([None], tf.string, name="text")
_IDS = {n: tf.TensorSpec([None, None], tf.int32, name=n) for n in ENCODER_INPUTS}
_WORDS = tf.RaggedTensorSpec([None, None, None], tf.int32, ragged_rank=2, row_splits_dtype=tf.int64)


class PreprocessExport(tf.Module):
    """Strings in, the three int32 inputs out (`seq_length` fixed at export), plus `tokenize` and `bert_pack_inputs`."""

    def __init__(self, tokenizer, seq_length: int = 128):
        super().__init__()
        self.tokenizer, self.seq_length = tokenizer, seq_length
        self.__call__ = tf.function(self._preprocess, input_signature=[_TEXT])
        self.serve = self.__call__
        self.tokenize = tf.function(self._tokenize, input_signature=[_TEXT])
        self.bert_pack_inputs = tf.function(self._pack)
        self.bert_pack_inputs.get_concrete_function([_WORDS])
        self.bert_pack_inputs.get_concrete_function([_WORDS, _WORDS])

    def _tokenize(self, text):
        return tf.cast(self.tokenizer.tokenize(clean_utf8(text), words=True), tf.int32)

    def _pack(self, segments):
        return self.tokenizer.pack(*segments, seq_length=self.seq_length) if len(segments) == 2 else \
            self.tokenizer.pack(segments[0], seq_length=self.seq_length)

    def _preprocess(self, text):
        return self.tokenizer.pack(clean_utf8(text), seq_length=self.seq_length)


class EncoderExport(tf.Module):
    """The three inputs in; `pooled_output`, `sequence_output`, `encoder_outputs` out; `mlm` when there is a head."""

    def __init__(self, encoder, pretrainer=None):
        super().__init__()
        self.encoder = encoder
        track_variables(self, pretrainer if pretrainer is not None else encoder)
        self.__call__ = tf.function(self._call, input_signature=[_IDS])
        self.serve = self.__call__
        self.serve_training = tf.function(lambda inputs: self._call(inputs, training=True), input_signature=[_IDS])
        self.serving_default = tf.function(lambda input_word_ids, input_mask, input_type_ids: {
            k: v for k, v in self._call({"input_word_ids": input_word_ids, "input_mask": input_mask,
                                         "input_type_ids": input_type_ids}).items() if k != "encoder_outputs"},
            input_signature=list(_IDS.values()))
        if pretrainer is not None:
            self.pretrainer = pretrainer
            self.mlm = tf.Module()
            self.mlm.__call__ = tf.function(self._mlm, input_signature=[dict(
                _IDS, masked_lm_positions=tf.TensorSpec([None, None], tf.int32, name="masked_lm_positions"))])

    def _call(self, inputs, training=False):
        out = self.encoder(inputs, training=training)
        return {"pooled_output": tf.cast(out["pooled_output"], tf.float32),
                "sequence_output": tf.cast(out["sequence_output"], tf.float32),
                "encoder_outputs": [tf.cast(x, tf.float32) for x in out["encoder_outputs"]]}

    def _mlm(self, inputs):
        out = self.pretrainer(inputs, training=False)
        return {"mlm_logits": tf.cast(out["mlm_logits"], tf.float32),
                "pooled_output": tf.cast(out["pooled_output"], tf.float32),
                "sequence_output": tf.cast(out["sequence_output"], tf.float32)}


def export_hub_pair(checkpoint: str, output: str, seq_length: int = 128, version: int | None = None,
                    vocab: str | None = None, lower_case: bool | None = None, overwrite: bool = False,
                    log=print) -> tuple[str, str]:
    """Write `OUTPUT_preprocess/<v>` and `OUTPUT_encoder/<v>` from any checkpoint `load_encoder` reads."""
    from bert_tf.checkpoints.loading import load_encoder, load_pretrainer, read_checkpoint
    from bert_tf.export.op_check import check_serving
    from bert_tf.export.versions import new_version_folder
    from bert_tf.finetuning.init import init_vocab_and_casing, resolve_init_path
    from bert_tf.tokenization import BertTokenizer
    checkpoint = resolve_init_path(checkpoint)
    vocab, lower_case = init_vocab_and_casing(checkpoint, vocab, lower_case)
    tokenizer = BertTokenizer(vocab, lower_case=lower_case)
    has_heads = read_checkpoint(checkpoint).has_pretraining_heads
    pretrainer = load_pretrainer(checkpoint) if has_heads else None
    encoder = pretrainer.encoder if pretrainer is not None else load_encoder(checkpoint)
    if tokenizer.vocab_size > encoder.bert_config.vocab_size:
        raise ValueError(f"{vocab} has {tokenizer.vocab_size} pieces, more than the model's {encoder.bert_config.vocab_size}")
    info = {"source": os.path.abspath(checkpoint), "sequence_length": seq_length, "lower_case": lower_case,
            "mlm": pretrainer is not None, "config": encoder.bert_config.to_dict()}
    paths = []
    for suffix, module in (("_preprocess", PreprocessExport(tokenizer, seq_length)),
                           ("_encoder", EncoderExport(encoder, pretrainer))):
        signatures = ({"serving_default": module.__call__} if suffix == "_preprocess"
                      else {"serving_default": module.serving_default})
        with new_version_folder(output + suffix, version, overwrite) as (tmp, number):
            tf.saved_model.save(module, tmp, signatures=signatures)
            check_serving(tmp, "2.12")
            write_text_atomic(os.path.join(tmp, "export_info.json"), json.dumps(dict(info, part=suffix[1:]), indent=2))
        paths.append(os.path.join(os.path.abspath(output + suffix), str(number)))
    log(f"exported {paths[0]} and {paths[1]}{' (with the mlm callable)' if pretrainer is not None else ''}")
    return paths[0], paths[1]
