"""BERT input embeddings: word + learned position + token type, then LayerNorm and dropout."""

from __future__ import annotations

import keras
import keras_hub

from bert_tf.layers.dropout import BertDropout
from bert_tf.layers.layer_norm import BertLayerNorm


@keras.saving.register_keras_serializable(package="bert_tf")
class BertEmbeddings(keras.layers.Layer):
    """Sum of word, position and token-type embeddings, normalised (eps 1e-12) and dropped out.

    Built on `keras.layers.Embedding` and keras-hub's `PositionEmbedding` (a learned table sliced to the
    sequence length), which give exactly the original arithmetic.

    Example:
    >>> import numpy as np
    >>> layer = BertEmbeddings(vocab_size=100, hidden_size=8, max_position_embeddings=16)
    >>> layer(np.ones((2, 5), "int32"), np.zeros((2, 5), "int32")).shape
    TensorShape([2, 5, 8])
    """

    def __init__(self, vocab_size: int, hidden_size: int, max_position_embeddings: int = 512,
                 type_vocab_size: int = 2, initializer_range: float = 0.02,
                 layer_norm_eps: float = 1e-12, dropout: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.max_position_embeddings = max_position_embeddings
        self.type_vocab_size = type_vocab_size
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.dropout_rate = dropout
        init = keras.initializers.TruncatedNormal(stddev=initializer_range)
        self.word_embeddings = keras.layers.Embedding(
            vocab_size, hidden_size, embeddings_initializer=init, dtype=self.dtype_policy,
            name="word_embeddings")
        self.position_embeddings = keras_hub.layers.PositionEmbedding(
            sequence_length=max_position_embeddings, initializer=init, dtype=self.dtype_policy,
            name="position_embeddings")
        self.token_type_embeddings = keras.layers.Embedding(
            type_vocab_size, hidden_size, embeddings_initializer=init, dtype=self.dtype_policy,
            name="token_type_embeddings")
        self.layer_norm = BertLayerNorm(
            epsilon=layer_norm_eps, dtype=self.dtype_policy, name="layer_norm")
        self.dropout = BertDropout(dropout, dtype=self.dtype_policy, name="dropout")

    def build(self, word_ids_shape, type_ids_shape=None):
        self.word_embeddings.build(word_ids_shape)
        self.token_type_embeddings.build(word_ids_shape)
        self.position_embeddings.build(tuple(word_ids_shape) + (self.hidden_size,))
        self.layer_norm.build(tuple(word_ids_shape) + (self.hidden_size,))
        self.built = True

    @property
    def embedding_table(self):
        """The `[vocab, hidden]` word table, shared with the masked-LM output layer."""
        return self.word_embeddings.embeddings

    def call(self, word_ids, type_ids, training=None):
        words = self.word_embeddings(word_ids)
        x = words + self.token_type_embeddings(type_ids) + self.position_embeddings(words)
        x = self.layer_norm(x)
        return self.dropout(x, training=training)

    def compute_output_shape(self, word_ids_shape, type_ids_shape=None):
        return tuple(word_ids_shape) + (self.hidden_size,)

    def get_config(self):
        config = super().get_config()
        config.update(vocab_size=self.vocab_size, hidden_size=self.hidden_size,
                      max_position_embeddings=self.max_position_embeddings,
                      type_vocab_size=self.type_vocab_size, initializer_range=self.initializer_range,
                      layer_norm_eps=self.layer_norm_eps, dropout=self.dropout_rate)
        return config
