"""BERT models: the encoder, the pretrainer and the fine-tuning tasks."""

from bert_tf.models.encoder import ENCODER_INPUTS, BertEncoder
from bert_tf.models.pretrainer import BertPretrainer
from bert_tf.models.tasks import BertClassifier, BertSpanLabeler, BertTokenClassifier

__all__ = ["ENCODER_INPUTS", "BertClassifier", "BertEncoder", "BertPretrainer", "BertSpanLabeler",
           "BertTokenClassifier"]
