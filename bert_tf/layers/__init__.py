"""Keras 3 layers of BERT, each serializable to `.keras` under the `bert_tf` package name."""

from bert_tf.layers.activations import gelu_exact, gelu_tanh, get_activation
from bert_tf.layers.attention import BertSelfAttention, attention_mask_bias
from bert_tf.layers.embeddings import BertEmbeddings
from bert_tf.layers.dense import FlatDense
from bert_tf.layers.dropout import BertDropout
from bert_tf.layers.layer_norm import BertLayerNorm
from bert_tf.layers.heads import BertPooler, DenseLogitsHead, MaskedLMHead
from bert_tf.layers.transformer_block import BertTransformerBlock

__all__ = ["BertDropout", "BertEmbeddings", "BertLayerNorm", "FlatDense", "BertPooler", "BertSelfAttention", "BertTransformerBlock",
           "DenseLogitsHead", "MaskedLMHead", "attention_mask_bias", "gelu_exact", "gelu_tanh", "get_activation"]
