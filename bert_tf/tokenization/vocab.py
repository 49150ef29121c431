"""WordPiece vocab files: reading, validating, and the casing check.

A vocab file is one token per line, id = line number (0-based), `##` marking a word-continuing
piece, as in every released BERT. We refuse vocabs that would give silently wrong ids: empty ones,
ones missing a special token, and ones with a token twice (the original keeps the later id, Hugging
Face the earlier one, so ids would depend on which tool read the file).
"""

from __future__ import annotations

import os
import unicodedata
import warnings

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


class VocabError(ValueError):
    """The vocab file or list cannot be used; the message names the file and line."""


class CasingMismatchWarning(UserWarning):
    """An uncased vocab used with lower_case=False, or a cased one with lower_case=True."""


def read_vocab_file(path: str | os.PathLike) -> list[str]:
    """The tokens of a vocab file, one per line, stripped of surrounding whitespace as the original does."""
    from bert_tf import storage
    path = os.fspath(path)
    if not storage.exists(path):
        raise FileNotFoundError(f"vocab file not found: {path}")
    with storage.open_file(path, "rb") as f:
        data = f.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise VocabError(f"{path}: line {line} (byte {e.start}) is not UTF-8") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    tokens = text.split("\n")
    if tokens and tokens[-1] == "":
        tokens.pop()
    return [t.strip() for t in tokens]


def validate_vocab(tokens: list[str], source: str = "vocab") -> None:
    """Raise VocabError if `tokens` cannot serve as a BERT vocab."""
    if not tokens:
        raise VocabError(f"{source}: the vocab is empty")
    seen: dict[str, int] = {}
    for i, token in enumerate(tokens):
        if not token:
            raise VocabError(f"{source}: line {i + 1} is empty; a vocab line holds exactly one token")
        if token in seen:
            raise VocabError(f"{source}: token {token!r} appears twice (lines {seen[token] + 1} and {i + 1})")
        seen[token] = i
    missing = [t for t in SPECIAL_TOKENS if t not in seen]
    if missing:
        raise VocabError(f"{source}: missing special token(s) {', '.join(missing)}; a BERT vocab needs "
                         f"all of {', '.join(SPECIAL_TOKENS)}")


def load_vocab(path: str | os.PathLike) -> list[str]:
    """Read and validate a vocab file."""
    tokens = read_vocab_file(path)
    validate_vocab(tokens, os.fspath(path))
    return tokens


def vocab_is_cased(tokens: list[str]) -> bool:
    """True when the vocab keeps capitals: more than 1% of its word-like tokens have an uppercase letter.

    Uncased vocabs (all English uncased BERTs) have none besides `[PAD]`-style specials; cased ones
    have thousands. The 1% margin leaves room for a stray capital in a learned vocab.
    """
    wordlike = [t for t in tokens if not (t.startswith("[") and t.endswith("]")) and any(c.isalpha() for c in t)]
    if not wordlike:
        return False
    upper = sum(1 for t in wordlike if any(unicodedata.category(c) == "Lu" for c in t))
    return upper > 0.01 * len(wordlike)


def check_casing(tokens: list[str], lower_case: bool, source: str = "vocab") -> bool:
    """Warn when the casing of the vocab and `lower_case` disagree; return True when they agree.

    The original warns only for the checkpoint names it knows; this checks the vocab itself.
    """
    cased = vocab_is_cased(tokens)
    if cased and lower_case:
        warnings.warn(f"{source} looks cased (it has capitalised pieces) but lower_case=True: capitalised "
                      "pieces will never be produced. Use lower_case=False (--cased) with a cased vocab.",
                      CasingMismatchWarning, stacklevel=3)
        return False
    if not cased and not lower_case:
        warnings.warn(f"{source} looks uncased (no capitalised pieces) but lower_case=False: capitalised "
                      "words will split badly or become [UNK]. Use lower_case=True (drop --cased) with "
                      "an uncased vocab.", CasingMismatchWarning, stacklevel=3)
        return False
    return True
