"""The original BERT pretraining-instance algorithm (google-research/bert `create_pretraining_data.py`).

In our words, for one document (a list of sentences, each a list of word pieces):

1. The budget is `max_seq_length - 3` pieces ([CLS] and two [SEP]). Usually the target length is the
   whole budget; with probability `short_seq_prob` it is a random length from 2 up, so the model
   also sees short inputs.
2. Sentences are gathered into a chunk until it reaches the target length or the document ends.
3. The chunk is cut at a random sentence boundary `a_end`: the sentences before it are segment A.
4. Segment B is the rest of the chunk (label "is next"), or, when the chunk is a single sentence or
   with probability 1/2, text from a random other document starting at a random sentence (label
   "random next"); the chunk's unused sentences are then put back, so the next chunk starts with them.
5. A and B are trimmed to the budget: one piece at a time from the longer of the two, from its
   front or its back at random.
6. `[CLS] A [SEP] B [SEP]` is masked: `round(len * masked_lm_prob)` positions (at least 1, at most
   `max_predictions_per_seq`), never [CLS] or [SEP], chosen by shuffling the candidates; each chosen
   position becomes [MASK] 80% of the time, stays unchanged 10%, a random vocab piece 10%. Positions
   are reported sorted, with the original pieces as labels.

Whole-word masking treats a piece and its `##` continuations as one candidate and skips a word that
would overflow the budget. The original then draws the 80/10/10 choice per piece, so a word can come
out half masked (its issue #910); we draw once per word unless `wwm_per_piece_choice=True` (a
"random" word gets a random piece at each of its positions).

Every random draw goes through one `random.Random` in the original's order, so with the same
documents and seed this reproduces the original's instances exactly (`tests/test_pretraining_instances.py`).
"""

from __future__ import annotations

import dataclasses
import random
from typing import Sequence

CLS, SEP, MASK = "[CLS]", "[SEP]", "[MASK]"


@dataclasses.dataclass(frozen=True)
class InstanceOptions:
    max_seq_length: int = 128
    short_seq_prob: float = 0.1
    masked_lm_prob: float = 0.15
    max_predictions_per_seq: int = 20
    whole_word_masking: bool = False
    wwm_per_piece_choice: bool = False  # reproduce the original's whole-word-masking bug


@dataclasses.dataclass
class Instance:
    tokens: list[str]
    segment_ids: list[int]
    is_random_next: bool
    masked_lm_positions: list[int]
    masked_lm_labels: list[str]


def trim_pair(tokens_a: list[str], tokens_b: list[str], max_tokens: int, rng: random.Random) -> None:
    """Drop pieces from the longer segment (B on a tie), each from its front or back at random."""
    while len(tokens_a) + len(tokens_b) > max_tokens:
        longer = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
        if rng.random() < 0.5:
            del longer[0]
        else:
            longer.pop()


def _candidate_words(tokens: Sequence[str], whole_word: bool) -> list[list[int]]:
    words: list[list[int]] = []
    for i, token in enumerate(tokens):
        if token in (CLS, SEP):
            continue
        if whole_word and words and token.startswith("##"):
            words[-1].append(i)
        else:
            words.append([i])
    return words


def mask_tokens(tokens: list[str], options: InstanceOptions, vocab_words: Sequence[str],
                rng: random.Random) -> tuple[list[str], list[int], list[str]]:
    """Masked copy of `tokens`, the masked positions (sorted) and their original pieces."""
    words = _candidate_words(tokens, options.whole_word_masking)
    rng.shuffle(words)
    budget = min(options.max_predictions_per_seq, max(1, int(round(len(tokens) * options.masked_lm_prob))))
    masked = list(tokens)
    chosen: list[int] = []
    per_piece = not options.whole_word_masking or options.wwm_per_piece_choice
    for word in words:
        if len(chosen) >= budget:
            break
        if len(chosen) + len(word) > budget:
            continue
        choice = None
        for index in word:
            if per_piece or choice is None:
                choice = _draw_choice(rng)
            masked[index] = _replacement(choice, tokens[index], vocab_words, rng)
            chosen.append(index)
    chosen.sort()
    return masked, chosen, [tokens[i] for i in chosen]



def _draw_choice(rng: random.Random) -> str:
    """80% "mask", 10% "keep", 10% "random" (the original's two draws, in its order)."""
    if rng.random() < 0.8:
        return "mask"
    return "keep" if rng.random() < 0.5 else "random"


def _replacement(choice: str, token: str, vocab_words: Sequence[str], rng: random.Random) -> str:
    if choice == "mask":
        return MASK
    if choice == "keep":
        return token
    return vocab_words[rng.randint(0, len(vocab_words) - 1)]


def instances_from_document(documents: Sequence[Sequence[list[str]]], index: int, options: InstanceOptions,
                            vocab_words: Sequence[str], rng: random.Random) -> list[Instance]:
    """All instances of `documents[index]`; other documents supply the random next segments."""
    document = documents[index]
    max_tokens = options.max_seq_length - 3
    target = max_tokens
    if rng.random() < options.short_seq_prob:
        target = rng.randint(2, max_tokens)
    instances: list[Instance] = []
    chunk: list[list[str]] = []
    length = 0
    i = 0
    while i < len(document):
        chunk.append(document[i])
        length += len(document[i])
        if i == len(document) - 1 or length >= target:
            a_end = rng.randint(1, len(chunk) - 1) if len(chunk) >= 2 else 1
            tokens_a = [t for sentence in chunk[:a_end] for t in sentence]
            tokens_b: list[str] = []
            is_random_next = len(chunk) == 1 or rng.random() < 0.5
            if is_random_next:
                other = index
                for _ in range(10):
                    other = rng.randint(0, len(documents) - 1)
                    if other != index:
                        break
                other_doc = documents[other]
                for sentence in other_doc[rng.randint(0, len(other_doc) - 1):]:
                    tokens_b.extend(sentence)
                    if len(tokens_b) >= target - len(tokens_a):
                        break
                i -= len(chunk) - a_end  # put the unused sentences back
            else:
                tokens_b = [t for sentence in chunk[a_end:] for t in sentence]
            trim_pair(tokens_a, tokens_b, max_tokens, rng)
            tokens = [CLS] + tokens_a + [SEP] + tokens_b + [SEP]
            segment_ids = [0] * (len(tokens_a) + 2) + [1] * (len(tokens_b) + 1)
            masked, positions, labels = mask_tokens(tokens, options, vocab_words, rng)
            instances.append(Instance(masked, segment_ids, is_random_next, positions, labels))
            chunk, length = [], 0
        i += 1
    return instances


def create_instances(documents: list[list[list[str]]], options: InstanceOptions, vocab_words: Sequence[str],
                     dupe_factor: int, rng: random.Random) -> list[Instance]:
    """The original's whole-corpus procedure: shuffle the documents, make instances `dupe_factor`
    times over (different masks each time), shuffle the instances. (The streaming path keeps the
    per-document algorithm but draws "other documents" from a buffer.)"""
    documents = list(documents)
    rng.shuffle(documents)
    instances = [inst for _ in range(dupe_factor) for index in range(len(documents))
                 for inst in instances_from_document(documents, index, options, vocab_words, rng)]
    rng.shuffle(instances)
    return instances
