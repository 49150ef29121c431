"""WordPiece tokenization on tensorflow-text: the reference tokenizer id for id, packing, vocab files."""

from bert_tf.tokenization.packing import TRUNCATIONS, pack_segments, truncate_segments
from bert_tf.tokenization.basic import BasicTokenizer
from bert_tf.tokenization.tokenizer import BertTokenizer
from bert_tf.tokenization.vocab_learning import count_words, learn_vocab
from bert_tf.tokenization.vocab import (SPECIAL_TOKENS, CasingMismatchWarning, VocabError, check_casing,
                                        load_vocab, vocab_is_cased)

__all__ = ["BasicTokenizer", "BertTokenizer", "CasingMismatchWarning", "SPECIAL_TOKENS", "TRUNCATIONS",
           "VocabError", "check_casing", "count_words", "learn_vocab", "load_vocab", "pack_segments",
           "truncate_segments", "vocab_is_cased"]
