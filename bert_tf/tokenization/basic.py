"""`BasicTokenizer`: the original's text-to-words step (clean, lowercase, strip accents, split) as ops.

This is the exact, code-point-level half of the reference tokenizer, with no vocab: it turns a
string tensor `[batch]` into words `[batch, (words)]`, the way google-research/bert's
`BasicTokenizer` does. `BertTokenizer` runs it on the rare lines its fast path cannot settle (an
`[UNK]` in the fast ids: final sigma, characters WordPiece would split differently, words over 200
bytes); vocab learning runs it on everything, so that the words a vocab is learned from are the
words the tokenizer will see.

Steps, each the original's, in its order:
1. delete NUL, U+FFFD and control/format characters (one RE2 replace);
2. uncased: Python's final-sigma rule (a capital sigma ending a word becomes `ς`), one RE2 replace
   with the cased and case-ignorable classes read off `str.lower()` itself;
3. per code point: lowercase + NFD + drop Mn (uncased; a table built with `unicodedata`), then
   whitespace to " ", punctuation and CJK ideographs to " c ";
4. split on " ".
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from bert_tf.tokenization import char_classes

# Code point classes (values of the run table). Punctuation and CJK ideographs become words of
# their own.
_OTHER, _DELETED, _WHITESPACE, _OWN_WORD = 0, 1, 2, 3


def _class_table() -> tuple[np.ndarray, np.ndarray]:
    """Sorted run starts and their class: `class = values[searchsorted(starts, cp, 'right') - 1]`."""
    marks = np.zeros(char_classes.MAX_CODE_POINT + 2, dtype=np.int8)
    for lo, hi in char_classes.class_ranges("punctuation") + char_classes.CJK_RANGES:
        marks[lo:hi + 1] = _OWN_WORD
    for name, value in (("whitespace", _WHITESPACE), ("deleted", _DELETED)):
        for lo, hi in char_classes.class_ranges(name):
            marks[lo:hi + 1] = value
    change = np.flatnonzero(np.diff(marks[:-1]) != 0) + 1
    starts = np.concatenate([[0], change]).astype(np.int32)
    return starts, marks[starts].astype(np.int32)


class BasicTokenizer(tf.Module):
    """Text to words exactly as the original BERT `BasicTokenizer`, on `tf.string` tensors.

    Example:
    ```python
    BasicTokenizer(lower_case=True).tokenize(tf.constant(["Héllo, WORLD!"]))
    # <tf.RaggedTensor [[b'hello', b',', b'world', b'!']]>
    ```
    """

    def __init__(self, lower_case: bool = True, name: str | None = None):
        super().__init__(name=name)
        self.lower_case = bool(lower_case)
        self._deleted_pattern = char_classes.re2_class(char_classes.class_ranges("deleted"))
        starts, classes = _class_table()
        self._class_starts, self._class_values = tf.constant(starts), tf.constant(classes)
        if self.lower_case:
            # Punctuation that lowercasing/decomposition produces (a spacing accent can decompose
            # to "`") is split off here too, as the original splits after stripping accents.
            mapping = char_classes.uncased_mapping()
            keys = sorted(mapping)
            punct = char_classes.is_punctuation
            self._map_keys = tf.constant(np.asarray(keys, dtype=np.int32))
            self._map_values = tf.constant(
                ["".join(f" {c} " if punct(ord(c)) else c for c in mapping[k]) for k in keys])
            cased = char_classes.class_ranges("cased")
            ignorable = char_classes.class_ranges("case_ignorable")
            skip = char_classes.re2_class(ignorable) + "*"
            self._final_sigma_pattern = (
                f"({char_classes.re2_class(cased)}{skip})\\x{{3a3}}"
                f"({skip}(?:{char_classes.re2_class(sorted(cased + ignorable), negate=True)}|\\z))")

    def normalize(self, text: tf.Tensor) -> tf.Tensor:
        """Cleaned (and uncased) text with every word separated by single or repeated spaces."""
        text = tf.strings.regex_replace(text, self._deleted_pattern, "")
        if self.lower_case:
            text = tf.strings.regex_replace(text, self._final_sigma_pattern, "\\1\u03c2\\2")
        chars = tf.strings.unicode_split(text, "UTF-8", errors="ignore")
        points = tf.strings.unicode_decode(text, "UTF-8", errors="ignore").flat_values
        pieces = chars.flat_values
        if self.lower_case:
            at = tf.minimum(tf.searchsorted(self._map_keys, points, side="left"), tf.size(self._map_keys) - 1)
            hit = tf.equal(tf.gather(self._map_keys, at), points)
            pieces = tf.where(hit, tf.gather(self._map_values, at), pieces)
        klass = tf.gather(self._class_values, tf.searchsorted(self._class_starts, points, side="right") - 1)
        pieces = tf.where(tf.equal(klass, _OWN_WORD), tf.strings.join([" ", pieces, " "]), pieces)
        pieces = tf.where(tf.equal(klass, _WHITESPACE), " ", pieces)
        return tf.strings.reduce_join(chars.with_flat_values(pieces), axis=-1)

    def tokenize(self, text: tf.Tensor) -> tf.RaggedTensor:
        """Words of a string tensor `[batch]`: ragged `[batch, (words)]` of strings."""
        # Only " " separates words after `normalize` (other whitespace was mapped to it; \v and \f
        # were deleted), so the plain whitespace split is the original's. tensorflow-text's
        # regex_split would also do, but adds ~100 ms to the start-up of every tf.data iterator.
        return tf.strings.split(self.normalize(tf.convert_to_tensor(text, tf.string)))
