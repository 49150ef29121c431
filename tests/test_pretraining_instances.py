"""The pretraining-instance algorithm against google-research/bert's own `create_pretraining_data.py`
(PyPI `bert-tensorflow`), draw for draw, and the whole-word-masking fix."""

from __future__ import annotations

import random
from importlib import resources

import pytest

from pipelines.pretraining.instances import InstanceOptions, instances_from_document, mask_tokens


@pytest.fixture(scope="module")
def documents(original_tokenizer, tokenizer_lines):
    """The BERT sample text (3 documents) plus the Gutenberg slice cut into 12 documents, tokenized
    with the original tokenizer."""
    tok = original_tokenizer(True)
    text = resources.files("bert_tf").joinpath("data/sample_text.txt").read_text(encoding="utf-8")
    docs: list[list[list[str]]] = [[]]
    for line in text.splitlines():
        if not line.strip():
            docs.append([])
        elif tok.tokenize(line):
            docs[-1].append(tok.tokenize(line))
    books = [tok.tokenize(line) for line in tokenizer_lines[:600] if line.strip()]
    docs += [books[i:i + 50] for i in range(0, len(books), 50)]
    return [d for d in docs if d]


@pytest.mark.parametrize("seq, short", [(128, 0.1), (64, 0.5), (512, 0.0)])
def test_same_instances_as_the_original(documents, original_tokenizer, seq, short):
    from bert import create_pretraining_data as original
    vocab_words = list(original_tokenizer(True).vocab.keys())
    ours_rng, their_rng = random.Random(12345), random.Random(12345)
    options = InstanceOptions(max_seq_length=seq, short_seq_prob=short)
    count = 0
    for _ in range(3):  # dupe factor
        for index in range(len(documents)):
            ours = instances_from_document(documents, index, options, vocab_words, ours_rng)
            theirs = original.create_instances_from_document(
                documents, index, seq, short, 0.15, 20, vocab_words, their_rng)
            assert len(ours) == len(theirs)
            for a, b in zip(ours, theirs):
                assert (a.tokens, a.segment_ids, a.is_random_next, a.masked_lm_positions, a.masked_lm_labels) == (
                    b.tokens, b.segment_ids, b.is_random_next, b.masked_lm_positions, b.masked_lm_labels)
                count += 1
    assert ours_rng.random() == their_rng.random()  # the same number of draws
    assert count > 100


def test_whole_word_masking_treats_a_word_as_one(original_tokenizer):
    vocab_words = list(original_tokenizer(True).vocab.keys())
    tokens = ["[CLS]"] + original_tokenizer(True).tokenize(
        "unaffable tokenization of extraordinarily uncharacteristic vocabulary words") * 3 + ["[SEP]"]
    options = InstanceOptions(masked_lm_prob=0.3, whole_word_masking=True)
    half_masked = 0
    for seed in range(200):
        masked, positions, labels = mask_tokens(tokens, options, vocab_words, random.Random(seed))
        assert len(positions) <= round(len(tokens) * 0.3) and positions == sorted(positions)
        assert all(tokens[p] == label for p, label in zip(positions, labels))
        assert 0 not in positions and len(tokens) - 1 not in positions
        chosen = set(positions)
        for start in range(1, len(tokens) - 1):  # every word is masked whole or not at all
            if tokens[start].startswith("##"):
                continue
            end = start + 1
            while end < len(tokens) - 1 and tokens[end].startswith("##"):
                end += 1
            word = set(range(start, end))
            assert word <= chosen or not (word & chosen)
            if word <= chosen and end - start > 1:
                kinds = {"mask" if masked[i] == "[MASK]" else "keep" if masked[i] == tokens[i] else "random"
                         for i in word}
                half_masked += len(kinds) > 1
    assert half_masked == 0
    # The original's per-piece choice, behind the flag, does split words.
    buggy = InstanceOptions(masked_lm_prob=0.3, whole_word_masking=True, wwm_per_piece_choice=True)
    split = 0
    for seed in range(200):
        masked, positions, _ = mask_tokens(tokens, buggy, vocab_words, random.Random(seed))
        split += any(masked[p] == "[MASK]" for p in positions) and any(masked[p] != "[MASK]" for p in positions)
    assert split > 0


def test_tfrecords_hold_the_originals_examples(documents, original_tokenizer, tmp_path):
    """Record for record, our Example equals the original writer's. (Bytes differ only in map-entry
    order: the original's follows a per-process hash seed, ours is sorted, so ours is reproducible.)"""
    import tensorflow as tf
    from bert import create_pretraining_data as original
    from pipelines.pretraining.tfrecord import instance_to_example, parse_examples
    tok = original_tokenizer(True)
    vocab_words = list(tok.vocab.keys())
    rng = random.Random(7)
    instances = [inst for index in range(len(documents))
                 for inst in original.create_instances_from_document(documents, index, 128, 0.1, 0.15, 20,
                                                                     vocab_words, rng)]
    path = str(tmp_path / "original.tfrecord")
    original.write_instance_to_example_files(instances, tok, 128, 20, [path])
    theirs = [r.numpy() for r in tf.data.TFRecordDataset(path)]
    ours = [instance_to_example(inst, tok.vocab.__getitem__, 128, 20) for inst in instances]
    assert len(ours) == len(theirs) > 50
    assert [tf.train.Example.FromString(o) for o in ours] == [tf.train.Example.FromString(t) for t in theirs]
    canonical = [tf.train.Example.FromString(t).SerializeToString(deterministic=True) for t in theirs]
    assert ours == canonical
    batch = parse_examples(tf.constant(ours[:8]), 128, 20)
    assert batch["input_ids"].dtype == tf.int32 and batch["input_ids"].shape == (8, 128)
    assert batch["masked_lm_weights"].dtype == tf.float32 and batch["next_sentence_labels"].shape == (8, 1)
    first = instances[0]
    assert batch["input_ids"][0, :len(first.tokens)].numpy().tolist() == tok.convert_tokens_to_ids(first.tokens)


def test_file_to_instances_equals_the_original_script(original_tokenizer, bert_tokenizer, minilm_vocab):
    """The original's create_training_instances on the BERT sample text vs our reader + algorithm."""
    from bert import create_pretraining_data as original
    from pipelines.pretraining.documents import iter_documents
    from pipelines.pretraining.instances import create_instances
    path = str(resources.files("bert_tf").joinpath("data/sample_text.txt"))
    tok = original_tokenizer(True)
    theirs = original.create_training_instances([path], tok, 128, 5, 0.1, 0.15, 20, random.Random(12345))
    documents = list(iter_documents([path], bert_tokenizer(True), batch_lines=7))
    assert len(documents) == 3
    ours = create_instances(documents, InstanceOptions(), list(tok.vocab.keys()), 5, random.Random(12345))
    assert len(ours) == len(theirs) > 10
    for a, b in zip(ours, theirs):
        assert (a.tokens, a.masked_lm_positions, a.is_random_next) == (b.tokens, b.masked_lm_positions,
                                                                       b.is_random_next)


def test_masking_statistics_on_real_text(bert_tokenizer):
    """Mask rate, 80/10/10 split and what is never masked, on consecutive Gutenberg sentences."""
    import collections
    import os
    from conftest import DATA
    from pipelines.pretraining.documents import iter_documents
    from pipelines.pretraining.instances import create_instances
    tok = bert_tokenizer(True)
    books = list(iter_documents([os.path.join(DATA, "gutenberg_first_3000_lines.txt")], tok))
    documents = [book[i:i + 100] for book in books for i in range(0, len(book), 100)]
    instances = create_instances(documents, InstanceOptions(), tok.vocab, 3, random.Random(12345))
    assert len(instances) > 1000
    masked = sum(len(i.masked_lm_positions) for i in instances)
    non_special = sum(len(i.tokens) - 3 for i in instances)
    assert abs(masked / non_special - 0.15) < 0.005
    kinds = collections.Counter()
    for inst in instances:
        assert inst.tokens[0] == "[CLS]" and inst.tokens.count("[SEP]") >= 2 and len(inst.tokens) <= 128
        assert len(inst.masked_lm_positions) <= 20 and inst.masked_lm_positions == sorted(inst.masked_lm_positions)
        sep = [i for i, t in enumerate(inst.tokens) if t == "[SEP]"]
        for position, label in zip(inst.masked_lm_positions, inst.masked_lm_labels):
            assert position != 0 and position not in (sep[0], len(inst.tokens) - 1)
            assert label not in ("[CLS]", "[SEP]", "[PAD]")
            shown = inst.tokens[position]
            kinds["mask" if shown == "[MASK]" else "keep" if shown == label else "random"] += 1
    assert abs(kinds["mask"] / masked - 0.8) < 0.015
    assert abs(kinds["keep"] / masked - 0.1) < 0.015 and abs(kinds["random"] / masked - 0.1) < 0.015
