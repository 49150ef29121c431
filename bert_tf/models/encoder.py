"""`BertEncoder`: the BERT transformer stack with the TF Hub BERT interface."""

from __future__ import annotations

import dataclasses

import keras

from bert_tf.config import BertConfig
from bert_tf.layers.attention import attention_mask_bias
from bert_tf.layers.embeddings import BertEmbeddings
from bert_tf.layers.heads import BertPooler
from bert_tf.layers.transformer_block import BertTransformerBlock

ENCODER_INPUTS = ("input_word_ids", "input_mask", "input_type_ids")


@keras.saving.register_keras_serializable(package="bert_tf")
class BertEncoder(keras.Model):
    """A BERT encoder as a functional Keras model, with TF Hub BERT input and output names.

    Inputs: a dict of int32 `[batch, seq]` tensors `input_word_ids`, `input_mask` (1 for real tokens,
    0 for padding) and `input_type_ids` (segment A = 0, B = 1). Outputs: a dict with `sequence_output`
    `[batch, seq, hidden]` (the last layer), `pooled_output` `[batch, hidden]` (tanh dense on [CLS]) and
    `encoder_outputs`, the list of every layer's output. The constructor takes the fields of the original
    `bert_config.json`; `from_bert_config` and `from_preset` build from a `BertConfig` or a preset name.

    Example:
    >>> import numpy as np
    >>> from bert_tf import BertEncoder
    >>> encoder = BertEncoder.from_preset("bert_tiny", vocab_size=1000)
    >>> ids = np.array([[101, 7592, 2088, 102, 0, 0]], "int32")
    >>> out = encoder({"input_word_ids": ids, "input_mask": (ids > 0).astype("int32"),
    ...                "input_type_ids": np.zeros_like(ids)})
    >>> out["sequence_output"].shape, out["pooled_output"].shape, len(out["encoder_outputs"])
    (TensorShape([1, 6, 128]), TensorShape([1, 128]), 2)
    """

    def __init__(self, vocab_size: int = 30522, hidden_size: int = 768, num_hidden_layers: int = 12,
                 num_attention_heads: int = 12, intermediate_size: int = 3072, hidden_act: str = "gelu",
                 hidden_dropout_prob: float = 0.1, attention_probs_dropout_prob: float = 0.1,
                 max_position_embeddings: int = 512, type_vocab_size: int = 2,
                 initializer_range: float = 0.02, layer_norm_eps: float = 1e-12, dtype=None, **kwargs):
        config = BertConfig(
            vocab_size=vocab_size, hidden_size=hidden_size, num_hidden_layers=num_hidden_layers,
            num_attention_heads=num_attention_heads, intermediate_size=intermediate_size,
            hidden_act=hidden_act, hidden_dropout_prob=hidden_dropout_prob,
            attention_probs_dropout_prob=attention_probs_dropout_prob,
            max_position_embeddings=max_position_embeddings, type_vocab_size=type_vocab_size,
            initializer_range=initializer_range, layer_norm_eps=layer_norm_eps)

        # Layers first, then the functional graph (the keras-hub backbone pattern).
        embeddings = BertEmbeddings(
            vocab_size, hidden_size, max_position_embeddings=max_position_embeddings,
            type_vocab_size=type_vocab_size, initializer_range=initializer_range,
            layer_norm_eps=layer_norm_eps, dropout=hidden_dropout_prob, dtype=dtype, name="embeddings")
        blocks = [
            BertTransformerBlock(hidden_size, num_attention_heads, intermediate_size, hidden_act=hidden_act,
                                 dropout=hidden_dropout_prob, attention_dropout=attention_probs_dropout_prob,
                                 initializer_range=initializer_range, layer_norm_eps=layer_norm_eps,
                                 dtype=dtype, name=f"layer_{i}")
            for i in range(num_hidden_layers)]
        pooler = BertPooler(hidden_size, initializer_range=initializer_range, dtype=dtype, name="pooler")

        inputs = {name: keras.Input(shape=(None,), dtype="int32", name=name) for name in ENCODER_INPUTS}
        x = embeddings(inputs["input_word_ids"], inputs["input_type_ids"])
        bias = attention_mask_bias(inputs["input_mask"])  # computed once, shared by every layer
        encoder_outputs = []
        for block in blocks:
            x = block(x, bias)
            encoder_outputs.append(x)
        outputs = {"sequence_output": x, "pooled_output": pooler(x), "encoder_outputs": encoder_outputs}
        super().__init__(inputs=inputs, outputs=outputs, dtype=dtype, **kwargs)

        self.config_ = config
        self.embeddings = embeddings
        self.blocks = blocks
        self.pooler = pooler

    @property
    def bert_config(self) -> BertConfig:
        return self.config_

    @property
    def embedding_table(self):
        """The `[vocab, hidden]` word-embedding variable (tied to the masked-LM output layer)."""
        return self.embeddings.embedding_table

    @classmethod
    def from_bert_config(cls, config: BertConfig, **kwargs) -> "BertEncoder":
        return cls(**config.to_dict(), **kwargs)

    @classmethod
    def from_preset(cls, name: str, dtype=None, **overrides) -> "BertEncoder":
        """A randomly initialised encoder of a preset shape (`bert_tiny` ... `bert_large`)."""
        return cls.from_bert_config(BertConfig.from_preset(name, **overrides), dtype=dtype)

    def get_config(self):
        config = dataclasses.asdict(self.config_)
        config.update(name=self.name, trainable=self.trainable,
                      dtype=keras.saving.serialize_keras_object(self.dtype_policy))
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.saving.deserialize_keras_object(config["dtype"])
        return cls(**config)
