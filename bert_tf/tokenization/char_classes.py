"""The reference BERT tokenizer's character classes, derived from Python's `unicodedata`.

The original `tokenization.py` decides everything per character with `unicodedata`: what it deletes
(NUL, U+FFFD, categories Cc and Cf except tab/newline/return), what is whitespace (space, tab,
newline, return, Zs; and, because it splits with `str.split()`, anything `str.isspace()`), what is
punctuation (all non-alphanumeric ASCII plus categories P*), which characters are CJK ideographs
(eight fixed blocks), and, when uncased, how a character is lowered and stripped of accents
(`lower()`, then NFD, then drop category Mn).

These tables drive both halves of our tokenizer: the fast normaliser's table
(`original_normalizer.py`) and the exact path (`basic.py`). tensorflow-text's stock normaliser
uses ICU instead (NFKC case folding, a newer Unicode), which is why we do not use it.

Everything here is computed from the running Python's Unicode tables, exactly as the original does
at run time, and cached: in memory, and on disk (`~/.cache/bert-tf`, or `$BERT_TF_CACHE`) under a
key made of the Unicode version and a hash of this file, so a process starts in milliseconds rather
than a second and a changed rule or Python can never read a stale table.
"""

from __future__ import annotations

import functools
import hashlib
import sys
import unicodedata
from typing import Iterable

from bert_tf.tokenization import disk_cache

MAX_CODE_POINT = sys.maxunicode  # 0x10FFFF

# The original's "Chinese character" blocks (CJK Unified Ideographs and extensions, compatibility).
CJK_RANGES: tuple[tuple[int, int], ...] = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
)

GREEK_CAPITAL_SIGMA = 0x03A3


def _all_code_points() -> range:
    return range(MAX_CODE_POINT + 1)


def _is_surrogate(cp: int) -> bool:
    return 0xD800 <= cp <= 0xDFFF


def is_deleted(cp: int) -> bool:
    """The original's `_clean_text` drops NUL, U+FFFD and control/format characters (not \\t\\n\\r)."""
    if cp in (0x09, 0x0A, 0x0D):
        return False
    return cp == 0 or cp == 0xFFFD or unicodedata.category(chr(cp)) in ("Cc", "Cf")


def is_whitespace(cp: int) -> bool:
    """Whitespace after cleaning: `_is_whitespace` (Zs, \\t\\n\\r) or `str.split()` separators."""
    return not is_deleted(cp) and (chr(cp).isspace() or unicodedata.category(chr(cp)) == "Zs")


def is_punctuation(cp: int) -> bool:
    """The original's `_is_punctuation`: non-alphanumeric ASCII, or a P* category."""
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(chr(cp)).startswith("P")


def is_cjk(cp: int) -> bool:
    return any(lo <= cp <= hi for lo, hi in CJK_RANGES)


def lower_strip_accents(text: str) -> str:
    """The original's uncased normalisation of one character (or a whole word, minus final sigma)."""
    decomposed = unicodedata.normalize("NFD", text.lower())
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")


def to_ranges(code_points: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted code points -> inclusive (first, last) runs."""
    ranges: list[list[int]] = []
    for cp in sorted(code_points):
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    return [(a, b) for a, b in ranges]


def re2_class(ranges: Iterable[tuple[int, int]], negate: bool = False) -> str:
    """An RE2 character class for the given inclusive code point runs."""
    def one(cp: int) -> str:
        return f"\\x{{{cp:x}}}"
    body = "".join(one(a) if a == b else f"{one(a)}-{one(b)}" for a, b in ranges)
    return f"[{'^' if negate else ''}{body}]"


def precompute() -> None:
    """Build the tables now (about a second), e.g. once in a parent before forking worker processes."""
    _scan()


def _cache_name() -> str:
    with open(__file__, "rb") as f:
        code = hashlib.sha256(f.read()).hexdigest()[:16]
    return f"char_classes-unicode{unicodedata.unidata_version}-{code}"


@functools.lru_cache(maxsize=None)
def _scan() -> dict:
    """The tables, from the disk cache when it holds them for this Unicode version and this code."""
    return disk_cache.load_or_build(_cache_name(), _scan_code_points)


def _scan_code_points() -> dict:
    """One pass over every code point: the classes and the uncased table.

    Cheap tests first (category, `decomposition`), the costly normalisations only where they can
    change something; this keeps the pass near one second.
    """
    classes: dict[str, list[int]] = {"deleted": [], "whitespace": [], "punctuation": [], "cased": [],
                                     "case_ignorable": []}
    mapping: dict[int, str] = {}
    for cp in _all_code_points():
        if _is_surrogate(cp):
            continue
        ch = chr(cp)
        cat = unicodedata.category(ch)
        if cat == "Cn" or cat == "Co":
            continue
        if is_deleted(cp):
            classes["deleted"].append(cp)
            continue
        if is_whitespace(cp):
            classes["whitespace"].append(cp)
        if is_punctuation(cp):
            classes["punctuation"].append(cp)
        # Python's final-sigma rule, read off str.lower() itself: Σ after a cased letter (with
        # case-ignorable characters skipped) and not before one becomes ς.
        if (ch + "\u03a3").lower()[-1] == "\u03c2":
            classes["cased"].append(cp)
        elif ("\u0391" + ch + "\u03a3").lower()[-1] == "\u03c2":
            classes["case_ignorable"].append(cp)
        low = ch.lower()
        decomposes = unicodedata.decomposition(ch) != "" or 0xAC00 <= cp <= 0xD7A3
        if low != ch or decomposes or cat == "Mn":
            normalized = lower_strip_accents(ch)
            if normalized != ch:
                mapping[cp] = normalized
    return {"classes": {k: tuple(to_ranges(v)) for k, v in classes.items()}, "mapping": mapping}


def class_ranges(name: str) -> tuple[tuple[int, int], ...]:
    """Runs of code points in a class: deleted, whitespace, punctuation (the original's), and
    cased (and not case-ignorable), case_ignorable (Python's final-sigma rule)."""
    return _scan()["classes"][name]


def uncased_mapping() -> dict[int, str]:
    """Every code point whose uncased normalisation (lower, NFD, drop Mn) changes it, and its result.

    Deleted characters are left out: they are gone before lowercasing.
    """
    return _scan()["mapping"]
