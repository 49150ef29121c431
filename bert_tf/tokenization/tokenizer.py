"""`BertTokenizer`: the reference BERT WordPiece tokenizer, id for id, as TensorFlow ops.

Why FastBertTokenizer, and what we change in it. tensorflow-text offers two BERT tokenizers.
`BertTokenizer` (regex basic tokenizer + `WordpieceTokenizer`) is several times slower, and its
uncased mode case-folds with NFKC too, so it is no closer to the original. `FastBertTokenizer` is
two ops, a table-driven normaliser and linear-time WordPiece, and is the fastest we measured. Its
stock normaliser is ICU's NFKC case folding, which differs from the original on thousands of
characters (`…`, `½`, final sigma, format characters, unassigned code points); its WordPiece caps
words at 100 bytes (the original at 200 characters).

So we keep both ops and change their data (`original_normalizer.py`): the normaliser gets a table
built from Python's `unicodedata` that does per character exactly what the original does (delete
control characters, lowercase + NFD + strip accents, split punctuation and CJK), and WordPiece caps
words at 200 bytes. What a per-character table cannot express (the context-dependent final sigma,
characters WordPiece would split on that the original keeps inside a word) is mapped to a sentinel
that can only become `[UNK]`, and a word over 200 bytes becomes `[UNK]` too. Every line whose fast
ids hold an `[UNK]` is then redone by the exact path (`basic.py`: the original's steps as ops, the
200-character word cap, `FastWordpieceTokenizer` on the words). Real text rarely has an `[UNK]`,
so the price over raw FastBertTokenizer is one comparison over the ids of a batch.

Known, documented departure from the original: invalid UTF-8 bytes are dropped (the original
decodes its files with errors="ignore" too, but a tensor may hold any bytes).
Where the original and Hugging Face disagree (a literal `[CLS]` in text, words of 101-200
characters, U+2028, control characters between letters), we follow the original.
"""

from __future__ import annotations

import os
from typing import Sequence

import tensorflow as tf
import tensorflow_text as tf_text

from bert_tf.tokenization import original_normalizer, packing
from bert_tf.tokenization.basic import BasicTokenizer
from bert_tf.tokenization.vocab import check_casing, load_vocab, validate_vocab


class BertTokenizer(tf.Module):
    """The reference BERT WordPiece tokenizer (google-research/bert `FullTokenizer`) in TensorFlow ops.

    Works on `tf.string` tensors eagerly, in `tf.data.Dataset.map`, in a `tf.function` and in a
    saved and reloaded SavedModel (the vocab travels as an asset).

    Args:
      vocab_file: path to a `vocab.txt` (one token per line). Or pass `vocab=` a list of tokens.
      lower_case: the uncased BERT normalisation (lowercase, NFD, strip accents). False keeps case
        and accents. A warning is raised when this disagrees with the vocab's own casing.
      max_chars_per_word: longer words become `[UNK]` (the original's 200).
      exact: False gives raw tensorflow-text `FastBertTokenizer` (ICU normalisation, no exact path):
        ids may differ from the original on rare text. For comparisons only.

    Example:
    ```python
    tokenizer = bert_tf.BertTokenizer("vocab.txt", lower_case=True)
    ids = tokenizer.tokenize(tf.constant(["Hello, world!"]))        # [[7592, 1010, 2088, 999]]
    inputs = tokenizer.pack(tf.constant(["Who?"]), tf.constant(["Me."]), seq_length=16)
    text = tokenizer.detokenize(ids)                                 # ["hello , world !"]
    ```
    """

    _TF_MODULE_IGNORED_PROPERTIES = tf.Module._TF_MODULE_IGNORED_PROPERTIES.union(("_tokens", "_index"))

    def __init__(self, vocab_file: str | os.PathLike | None = None, lower_case: bool = True, *,
                 vocab: Sequence[str] | None = None, max_chars_per_word: int = 200, exact: bool = True,
                 name: str | None = None):
        super().__init__(name=name)
        if (vocab_file is None) == (vocab is None):
            raise ValueError("pass exactly one of vocab_file or vocab")
        if vocab_file is not None:
            tokens = load_vocab(vocab_file)
            self.vocab_file = tf.saved_model.Asset(os.fspath(vocab_file))
            source = os.fspath(vocab_file)
        else:
            tokens = list(vocab)
            validate_vocab(tokens)
            source = "vocab"
        check_casing(tokens, lower_case, source)
        # Plain Python containers, kept out of TF's attribute tracking: wrapping 30k vocab entries
        # for tracking costs most of a second at construction, and they are not state to save.
        index = {t: i for i, t in enumerate(tokens)}
        object.__setattr__(self, "_tokens", tokens)
        object.__setattr__(self, "_index", index)
        self.lower_case = bool(lower_case)
        self.max_chars_per_word = int(max_chars_per_word)
        self.exact = bool(exact)
        self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = (
            index[t] for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"))

        self._vocab_strings = tf.constant(tokens)
        self._is_suffix = tf.constant([t.startswith("##") for t in tokens])
        if not self.exact:
            self._fast = tf_text.FastBertTokenizer(
                vocab=tokens, max_bytes_per_word=4 * self.max_chars_per_word + 4, token_out_type=tf.int32,
                lower_case_nfd_strip_accents=self.lower_case)
            return
        # The fast path: the original's normalisation as the normaliser's table; words over the cap
        # in bytes become [UNK] (a word under it in characters may be longer in bytes: the exact
        # path, which every line with an [UNK] takes, decides those).
        model = original_normalizer.build_model(self.lower_case, original_normalizer.choose_sentinel(tokens))
        self._fast = tf_text.FastBertTokenizer(
            vocab=tokens, max_bytes_per_word=self.max_chars_per_word, token_out_type=tf.int32,
            lower_case_nfd_strip_accents=self.lower_case, fast_bert_normalizer_model_buffer=model)
        # The exact path: pre-split words longer than the cap are replaced by "[UNK]" first; this
        # bound only has to let every word under the cap through.
        self._words = tf_text.FastWordpieceTokenizer(
            vocab=tokens, no_pretokenization=True, token_out_type=tf.int32,
            max_bytes_per_word=4 * self.max_chars_per_word + 4)
        self._basic = BasicTokenizer(self.lower_case)

    # ----------------------------------------------------------------------------- properties
    @property
    def vocab(self) -> list[str]:
        return list(self._tokens)

    @property
    def vocab_size(self) -> int:
        return len(self._tokens)

    def token_to_id(self, token: str) -> int:
        return self._index[token]

    def id_to_token(self, ids: tf.Tensor | tf.RaggedTensor) -> tf.Tensor | tf.RaggedTensor:
        """Word-piece strings for ids (any shape, dense or ragged)."""
        if isinstance(ids, tf.RaggedTensor):
            return ids.with_flat_values(tf.gather(self._vocab_strings, ids.flat_values))
        return tf.gather(self._vocab_strings, ids)

    # ------------------------------------------------------------------------------ tokenize
    def tokenize(self, text: tf.Tensor, words: bool = False) -> tf.RaggedTensor:
        """Word-piece ids (int32) of a string tensor `[batch]`: ragged `[batch, (pieces)]`.

        With `words=True`, `[batch, (words), (pieces)]`: a word is a piece followed by its `##`
        continuations, the unit that whole-word masking masks. A scalar string gives one row less.
        """
        text = tf.convert_to_tensor(text, dtype=tf.string)
        if text.shape.rank == 0:
            return self.tokenize(text[tf.newaxis], words=words)[0]
        ids = self._fast.tokenize(text)
        if self.exact:
            ids = self._with_exact_lines(text, ids)
        return self._group_words(ids) if words else ids

    def _with_exact_lines(self, text: tf.Tensor, fast_ids: tf.RaggedTensor) -> tf.RaggedTensor:
        """`fast_ids` with every line that holds an `[UNK]` redone by the exact path."""
        # One comparison over the batch's ids; the per-line work only when some line needs it.
        is_unk = tf.equal(fast_ids.flat_values, self.unk_id)

        def merge():
            needs_exact = tf.math.unsorted_segment_max(
                tf.cast(is_unk, tf.int32), fast_ids.value_rowids(), fast_ids.nrows()) > 0
            redo = tf.where(needs_exact)[:, 0]
            keep = tf.where(~needs_exact)[:, 0]
            exact_ids = self._tokenize_exact(tf.gather(text, redo))
            stacked = tf.concat([tf.gather(fast_ids, keep), exact_ids], axis=0)
            order = tf.math.invert_permutation(tf.concat([keep, redo], axis=0))
            return tf.gather(stacked, order).with_row_splits_dtype(fast_ids.row_splits.dtype)

        return tf.cond(tf.reduce_any(is_unk), merge, lambda: fast_ids)

    def _tokenize_exact(self, text: tf.Tensor) -> tf.RaggedTensor:
        """The original algorithm, step by step, for a batch of lines: `[batch, (pieces)]`."""
        words = self._basic.tokenize(text)
        flat_words = words.flat_values
        too_long = tf.strings.length(flat_words, unit="UTF8_CHAR") > self.max_chars_per_word
        words = words.with_flat_values(tf.where(too_long, self._tokens[self.unk_id], flat_words))
        return self._words.tokenize(words).merge_dims(1, 2)

    def _group_words(self, ids: tf.RaggedTensor) -> tf.RaggedTensor:
        """`[batch, (pieces)]` -> `[batch, (words), (pieces)]`, a new word at each non-`##` piece."""
        flat = ids.flat_values
        starts = ~tf.gather(self._is_suffix, flat)
        first = ids.row_starts()[ids.row_lengths() > 0]
        starts = tf.tensor_scatter_nd_update(starts, first[:, None], tf.ones_like(first, tf.bool))
        word_of_piece = tf.cumsum(tf.cast(starts, tf.int64)) - 1
        num_words = tf.reduce_sum(tf.cast(starts, tf.int64))
        by_word = tf.RaggedTensor.from_value_rowids(flat, word_of_piece, nrows=num_words)
        words_per_line = tf.math.unsorted_segment_sum(
            tf.cast(starts, tf.int64), ids.value_rowids(), ids.nrows())
        return tf.RaggedTensor.from_row_lengths(by_word, words_per_line)

    # ------------------------------------------------------------------------------- inverse
    def detokenize(self, ids: tf.Tensor | tf.RaggedTensor) -> tf.Tensor:
        """Text for ids `[batch, (pieces)]` (dense or ragged; `[PAD]` dropped): pieces joined, `##` glued.

        The result is the normalised text (lowercased when uncased), with spaces around
        punctuation, like the original's `" ".join(tokens).replace(" ##", "")`.
        """
        if not isinstance(ids, tf.RaggedTensor):
            ids = tf.RaggedTensor.from_tensor(ids)
        if ids.ragged_rank > 1:
            ids = ids.merge_dims(1, -1)
        ids = tf.ragged.boolean_mask(ids, tf.not_equal(ids, self.pad_id))
        text = tf.strings.reduce_join(self.id_to_token(ids), axis=-1, separator=" ")
        return tf.strings.regex_replace(tf.strings.regex_replace(text, " ##", ""), "^##", "")

    # --------------------------------------------------------------------------------- packing
    def pack(self, text_a, text_b=None, seq_length: int = 128,
             truncation: str = "longest_first") -> dict[str, tf.Tensor]:
        """BERT inputs for single sentences or pairs: `[CLS] A [SEP] (B [SEP])`, int32 `[batch, seq_length]`.

        `text_a`/`text_b` are string tensors `[batch]` or already-tokenized ragged ids. Truncation:
        `longest_first` (the original), `round_robin` or `waterfall`; see `packing.py`.
        """
        segments = [t if isinstance(t, tf.RaggedTensor) else self.tokenize(t)
                    for t in (text_a, text_b) if t is not None]
        segments = [s.merge_dims(1, -1) if s.ragged_rank > 1 else s for s in segments]
        return packing.pack_segments(segments, seq_length, self.cls_id, self.sep_id, self.pad_id, truncation)

    def __call__(self, text: tf.Tensor) -> tf.RaggedTensor:
        return self.tokenize(text)
