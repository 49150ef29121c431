"""The original BERT normalisation, compiled into tensorflow-text's `FastBertNormalizer` op.

Why. tensorflow-text's `FastBertTokenizer` is two ops: a normaliser (a per-code-point table,
looked up in a darts-clone trie) and linear-time WordPiece that splits words on ICU's whitespace
and punctuation. Its stock table is ICU's NFKC case folding, which differs from the original
`tokenization.py` (Python `str.lower()` + NFD + drop Mn, control characters deleted) on thousands of
characters (`…` -> `...`, `½` -> `1⁄2`, `ς` -> `σ`, format characters become spaces). The op also
accepts a table of our own (`fast_bert_normalizer_model_buffer`), so we build one whose entry for
each code point is what the original does to it, read off the running Python's `unicodedata`. With
it the fast path itself is the original's algorithm, at the stock op's speed, and no scan of the
text for risky characters is needed.

What a per-character table cannot express, it sends to the exact path instead, by mapping the
character to a sentinel that WordPiece can only turn into `[UNK]` (the tokenizer re-runs every line
with an `[UNK]` through the exact, step-by-step path):
- the capital sigma when uncased (Python lowercases it by context: `ς` at the end of a word);
- characters on which WordPiece's own split (ICU whitespace, ICU punctuation, CJK) would disagree
  with the original's (a word character to the original that ICU calls punctuation or whitespace:
  with Python 3.11 and tensorflow-text 2.21, 36 punctuation marks that Unicode assigned after
  Python's version 14, which the original, seeing unassigned code points, keeps inside words).
Where the original splits and WordPiece would not (the original's punctuation is any
non-alphanumeric ASCII or a P* category), the table adds the spaces itself.

The model is a flatbuffer (`fast_bert_normalizer_model.fbs`: `lower_case_nfd_strip_accents`,
`trie_array`, `data_for_codepoint_zero`, `normalized_string_pool`); each trie value is
`0x40000000 | offset << 6 | length` into the string pool. Built once per (casing, sentinel,
Unicode version, tensorflow-text version, this file) and cached on disk like `char_classes`.
"""

from __future__ import annotations

import functools
import hashlib
import os
import subprocess
import sys
import unicodedata

import numpy as np

from bert_tf.tokenization import char_classes, disk_cache

# Sentinel candidates: noncharacters, valid in UTF-8, that no real vocab holds.
SENTINEL_CANDIDATES = ("\uffff", "\ufffe", "\ufdd0", "\ufdd1", "\ufdd2")

_CHANGED = 0x40000000
_LENGTH_BITS = 6
# WordPiece's view of one character.
WORD, SPACE, SPLIT = "word", "space", "split"


def choose_sentinel(vocab: list[str]) -> str:
    """The first candidate no vocab token contains (so it can only ever become `[UNK]`)."""
    used = set("".join(vocab))
    for candidate in SENTINEL_CANDIDATES:
        if candidate not in used:
            return candidate
    raise ValueError("the vocab contains every sentinel candidate (U+FFFF, U+FFFE, U+FDD0-U+FDD2); "
                     "they are noncharacters and do not belong in a WordPiece vocab")


def build_model(lower_case: bool, sentinel: str) -> bytes:
    """The `FastBertNormalizer` model buffer for the original's normalisation (cached)."""
    return _cached(("model", bool(lower_case), sentinel), lambda: _build_model(lower_case, sentinel))


def precompute(lower_case: bool, vocab: list[str] | None = None) -> None:
    """Build the model now, in memory and on disk, without starting TensorFlow's runtime here (a
    parent about to fork workers must not): the one step that runs a TensorFlow op, probing
    WordPiece's split, runs in a child process when the disk cache does not hold it yet."""
    if ("classes",) not in _MEMO and not os.path.exists(_cache_path(("classes",))):
        package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
                   PYTHONPATH=os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])))
        done = subprocess.run([sys.executable, "-c", "from bert_tf.tokenization import original_normalizer as n; "
                               "n.wordpiece_classes()"], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"building the tokenizer's tables failed in a child process:\n{done.stderr[-2000:]}")
        if not os.path.exists(_cache_path(("classes",))):
            return  # no writable cache: each worker builds its own
    build_model(lower_case, choose_sentinel(vocab) if vocab else SENTINEL_CANDIDATES[0])


def character_table(lower_case: bool, sentinel: str) -> dict[int, str]:
    """Code point -> what the fast normaliser writes for it, for every code point it changes."""
    classes = wordpiece_classes()
    deleted = _ranges_set(char_classes.class_ranges("deleted"))
    whitespace = _ranges_set(char_classes.class_ranges("whitespace"))
    mapping = char_classes.uncased_mapping() if lower_case else {}
    punctuation = _ranges_set(char_classes.class_ranges("punctuation"))
    cjk = _ranges_set(char_classes.CJK_RANGES)
    # Any other code point is a word character to both (and not mapped): it stays as it is.
    candidates = (deleted | whitespace | set(mapping) | punctuation | cjk | {0, char_classes.GREEK_CAPITAL_SIGMA}
                  | set(np.flatnonzero(classes != WORD).tolist()))
    table: dict[int, str] = {}
    for cp in sorted(candidates):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        out = _original_output(cp, lower_case, classes, deleted, whitespace, mapping, sentinel)
        if out != chr(cp):
            table[cp] = out
    return table


def _original_output(cp, lower_case, classes, deleted, whitespace, mapping, sentinel) -> str:
    """What the original makes of one character, spelled so that WordPiece splits it the same way."""
    if cp == 0 or cp in deleted:
        return ""
    if cp in whitespace:
        return chr(cp) if classes[cp] == SPACE else " "
    if lower_case and cp == char_classes.GREEK_CAPITAL_SIGMA:
        return sentinel  # final sigma depends on the next character
    text = mapping.get(cp, chr(cp))
    if not char_classes.is_cjk(cp):
        return _spell(text, classes, sentinel)
    # The original spaces CJK ideographs before normalising: the result is one word of its own.
    if len(text) == 1 and classes[ord(text)] == SPLIT:
        return text
    inner = _spell(text, classes, sentinel)
    return sentinel if inner == sentinel else f" {inner} "


def _spell(text: str, classes: np.ndarray, sentinel: str) -> str:
    """Normalised characters with the original's punctuation split made explicit where WordPiece
    would not split; the sentinel where WordPiece would split (or drop) a word character."""
    pieces = []
    for ch in text:
        kind = classes[ord(ch)]
        if char_classes.is_punctuation(ord(ch)):
            if kind == SPACE:
                return sentinel
            pieces.append(ch if kind == SPLIT else f" {ch} ")
        elif kind != WORD:
            return sentinel
        else:
            pieces.append(ch)
    return "".join(pieces)


def _ranges_set(ranges) -> set[int]:
    return {cp for lo, hi in ranges for cp in range(lo, hi + 1)}


def wordpiece_classes() -> np.ndarray:
    """For every code point, how tensorflow-text's WordPiece pre-split treats it: "word", "space"
    or "split" (ICU punctuation or CJK). Measured with the op itself, not assumed (cached)."""
    return _cached(("classes",), _probe_wordpiece_classes)


def _probe_wordpiece_classes() -> np.ndarray:
    import tensorflow as tf
    import tensorflow_text as tf_text

    # "a" + c + "a" with the vocab [UNK], a, ##a: whitespace gives [a, a], a split character
    # [a, UNK, a] (it is a word of its own and not in the vocab), a word character [UNK].
    wp = tf_text.FastWordpieceTokenizer(vocab=["[UNK]", "a", "##a"], token_out_type=tf.int32,
                                        max_bytes_per_word=100)
    points = np.arange(char_classes.MAX_CODE_POINT + 1, dtype=np.int32)
    points = points[(points < 0xD800) | (points > 0xDFFF)]
    a = np.full_like(points, ord("a"))
    texts = tf.strings.unicode_encode(tf.constant(np.stack([a, points, a], axis=1)), "UTF-8")
    ids = wp.tokenize(texts)
    lengths, values = ids.row_lengths().numpy(), ids.flat_values.numpy()
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    first = values[np.minimum(starts, len(values) - 1)]
    second = values[np.minimum(starts + 1, len(values) - 1)]
    classes = np.full(char_classes.MAX_CODE_POINT + 1, "", dtype=object)
    classes[points[(lengths == 2) & (first == 1) & (second == 1)]] = SPACE
    classes[points[(lengths == 3) & (second == 0)]] = SPLIT
    classes[points[(lengths == 1) & (first == 0)]] = WORD
    classes[ord("a")] = WORD  # "aaa" is [a, ##a, ##a]
    classes[0xD800:0xE000] = WORD  # surrogates never reach the op (not valid UTF-8)
    unexplained = points[classes[points] == ""]
    if len(unexplained):
        raise RuntimeError(f"unexpected WordPiece split of U+{unexplained[0]:04X} and {len(unexplained) - 1} more")
    return classes


def _build_model(lower_case: bool, sentinel: str) -> bytes:
    table = character_table(lower_case, sentinel)
    pool = bytearray()
    offsets: dict[bytes, int] = {}
    keys, values = [], []
    zero_data = 0
    for cp in sorted(table):
        out = table[cp].encode("utf-8")
        if len(out) >= 1 << _LENGTH_BITS:
            raise ValueError(f"normalised form of U+{cp:04X} is {len(out)} bytes, over the op's limit")
        if out and out not in offsets:
            offsets[out] = len(pool)
            pool += out
        data = _CHANGED | (offsets.get(out, 0) << _LENGTH_BITS) | len(out)
        if cp == 0:
            zero_data = data  # darts-clone cannot hold the empty key
        else:
            keys.append(chr(cp).encode("utf-8"))
            values.append(data)
    trie = darts_clone_trie(keys, values)
    return _flatbuffer(lower_case, trie, zero_data, bytes(pool))


def darts_clone_trie(keys: list[bytes], values: list[int]) -> np.ndarray:
    """A darts-clone double array (the layout tensorflow-text's trie wrapper reads) for
    prefix-free byte-string keys without NUL bytes and values below 2**31.

    Unit layout: label in bits 0-7, has-leaf in bit 8, offset in bits 10-31 (bit 9 would scale it
    by 256; we keep the array under 2**21 units so it never has to), a value unit has bit 31 set.
    A node at `p` with offset `o` has its child for byte `b` at `p ^ o ^ b`, its value at `p ^ o`.
    Every node gets its own base `p ^ o` (two nodes sharing one could read each other's children),
    and the array is padded to whole 256-unit blocks, since the reader does no bounds checks and a
    lookup for any byte lands inside the base's block.
    """
    root: dict = {}
    for key, value in zip(keys, values):
        if not key or b"\x00" in key:
            raise ValueError(f"darts-clone keys must be non-empty and NUL-free: {key!r}")
        node = root
        for byte in key:
            if None in node:
                raise ValueError(f"keys must be prefix-free: {key!r}")
            node = node.setdefault(byte, {})
        if node:
            raise ValueError(f"keys must be prefix-free: {key!r}")
        node[None] = value
    layout = _Layout()
    units = layout.units
    queue = [(root, 0)]
    for node, pos in queue:  # breadth first; the queue grows as we go
        labels = sorted(b for b in node if b is not None)
        slots = ([0] if None in node else []) + labels
        base = layout.place(slots)
        offset = pos ^ base
        if offset >= 1 << 21:
            raise ValueError("trie too large for the unscaled offset encoding")
        units[pos] |= (offset << 10) | (0x100 if None in node else 0)
        if None in node:
            units[base] = node[None] | (1 << 31)
        for label in labels:
            units[base ^ label] = label
            queue.append((node[label], base ^ label))
    return np.asarray(units, dtype=np.uint32)


class _Layout:
    """Free units as a linked list in position order (as darts-clone keeps them), so finding a
    base skips the filled part of the array instead of rescanning it."""

    def __init__(self):
        self.units: list[int] = []
        self.next_free: list[int] = []
        self.prev_free: list[int] = []
        self.head = self._tail = -1  # first and last free unit, -1 when none
        self.bases: set[int] = set()
        self._grow(512)
        self._take(0)  # the root

    def _grow(self, size: int) -> None:
        old = len(self.units)
        if size <= old:
            return
        self.units.extend([0] * (size - old))
        self.next_free.extend(range(old + 1, size + 1))
        self.prev_free.extend(range(old - 1, size - 1))
        self.next_free[-1] = -1
        tail = self._tail
        if tail == -1:
            self.head = old
            self.prev_free[old] = -1
        else:
            self.next_free[tail] = old
            self.prev_free[old] = tail
        self._tail = size - 1

    def _take(self, pos: int) -> None:
        nxt, prv = self.next_free[pos], self.prev_free[pos]
        if prv == -1:
            self.head = nxt
        else:
            self.next_free[prv] = nxt
        if nxt == -1:
            self._tail = prv
        else:
            self.prev_free[nxt] = prv
        self.next_free[pos] = self.prev_free[pos] = -2  # taken

    def _is_free(self, pos: int) -> bool:
        return pos >= len(self.units) or self.next_free[pos] != -2

    def place(self, slots: list[int]) -> int:
        """A new base with every `base ^ slot` free (and never unit 0); takes those units."""
        first = slots[0]
        pos = self.head
        while True:
            if pos == -1:  # no free unit left: the first unit past the end
                pos = len(self.units)
            base = pos ^ first
            if base not in self.bases and all(base ^ s and self._is_free(base ^ s) for s in slots):
                break
            pos = self.next_free[pos] if pos < len(self.units) else pos + 1
        self.bases.add(base)
        # The reader does no bounds checks: cover the base's whole 256-unit block.
        self._grow(((max(base, *(base ^ s for s in slots)) >> 8) + 1) << 8)
        for s in slots:
            self._take(base ^ s)
        return base


def _flatbuffer(lower_case: bool, trie: np.ndarray, zero_data: int, pool: bytes) -> bytes:
    import flatbuffers

    builder = flatbuffers.Builder(4 * len(trie) + len(pool) + 1024)
    pool_vector = builder.CreateNumpyVector(np.frombuffer(pool or b"\0", dtype=np.uint8))
    trie_vector = builder.CreateNumpyVector(trie.astype("<u4"))
    builder.StartObject(4)
    builder.PrependBoolSlot(0, bool(lower_case), False)
    builder.PrependUOffsetTRelativeSlot(1, trie_vector, 0)
    builder.PrependInt32Slot(2, zero_data, 0)
    builder.PrependUOffsetTRelativeSlot(3, pool_vector, 0)
    builder.Finish(builder.EndObject())
    return bytes(builder.Output())


# ----------------------------------------------------------------------------------- cache
def _cache_key(parts: tuple) -> str:
    tag = "-".join(str(p).encode("unicode_escape").decode().replace("\\", "") for p in parts)
    return f"normalizer-{tag}-{_versions()}"


@functools.lru_cache(maxsize=None)
def _versions() -> str:
    """What every cached table depends on: Unicode, tensorflow-text, and the code that builds it."""
    from importlib import metadata

    with open(__file__, "rb") as f:
        code = hashlib.sha256(f.read()).hexdigest()[:12]
    with open(char_classes.__file__, "rb") as f:
        code += hashlib.sha256(f.read()).hexdigest()[:8]
    return f"unicode{unicodedata.unidata_version}-tftext{metadata.version('tensorflow-text')}-{code}"


_MEMO: dict = {}


def _cache_path(parts: tuple) -> str:
    return disk_cache.path_for(_cache_key(parts))


def _cached(parts: tuple, build):
    """`build()`, memoised in this process and on disk under a key naming everything it depends on."""
    if parts not in _MEMO:
        _MEMO[parts] = disk_cache.load_or_build(_cache_key(parts), build)
    return _MEMO[parts]
