"""Fine-tuning readers: GLUE tables, labels, length buckets, CoNLL first-piece labels, SQuAD windows and the
answer round trip on the shared SQuAD file; and the clear errors on bad input."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from bert_tf.metrics.squad import normalize_answer
from pipelines.finetuning.conll import read_conll, tagging_features
from pipelines.finetuning.errors import FinetuneDataError
from pipelines.finetuning.glue_tasks import GLUE_TASKS
from pipelines.finetuning.labels import encode_labels, infer_label_list, parse_scores
from pipelines.finetuning.sentences import batched, batches_per_pass, sentence_examples
from pipelines.finetuning.squad import read_squad, squad_features
from pipelines.finetuning.squad_answers import best_answers
from pipelines.finetuning.tables import read_table

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data", "finetune")
SHARED = os.path.join(HERE, "..", "..", "shared", "data")


def test_glue_layouts_are_recognised_by_header():
    mrpc = os.path.join(DATA, "mrpc_train_200.tsv")
    layout = GLUE_TASKS["mrpc"].layout_for(mrpc)  # the header starts with a BOM
    table = read_table(mrpc, layout.text, layout.text_b, layout.label)
    assert len(table) == 200 and set(table.labels) == {"0", "1"}
    # MRPC holds bare double quotes: read with quoting off, they stay in the text.
    assert table.text_a[0] == ('Amrozi accused his brother, whom he called "the witness", of deliberately '
                               'distorting his evidence.')
    rte = GLUE_TASKS["rte"].layout_for(os.path.join(DATA, "rte_train_200.tsv"))
    assert (rte.text, rte.text_b, rte.label) == ("sentence1", "sentence2", "label")
    with pytest.raises(FinetuneDataError, match="does not look like a mrpc file"):
        GLUE_TASKS["mrpc"].layout_for(os.path.join(DATA, "sst2_train_300.tsv"))


def test_table_errors_name_file_and_line(tmp_path):
    ragged = tmp_path / "ragged.tsv"
    ragged.write_text("sentence\tlabel\ngood film\t1\nno label here\nbad\t0\n")
    with pytest.raises(FinetuneDataError, match=r"ragged\.tsv:3: ragged row: 1 tab-separated fields where the "
                                                r"first row has 2"):
        read_table(str(ragged), "sentence", None, "label")
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    with pytest.raises(FinetuneDataError, match="empty.tsv: no data rows"):
        read_table(str(empty), "sentence", None, "label")
    header_only = tmp_path / "header.tsv"
    header_only.write_text("sentence\tlabel\n")
    with pytest.raises(FinetuneDataError, match="only a header"):
        read_table(str(header_only), "sentence", None, "label")
    with pytest.raises(FinetuneDataError, match="no column named 'text'"):
        read_table(str(header_only), "text", None, "label")
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text('{"text": "a", "label": "x"}\n{"text": "b"}\n')
    with pytest.raises(FinetuneDataError, match=r"d\.jsonl:2: no field label"):
        read_table(str(jsonl), "text", None, "label")
    csv_file = tmp_path / "d.csv"
    csv_file.write_text('text,label\n"a, quoted, text",pos\nplain,neg\n')
    table = read_table(str(csv_file), "text", None, "label")
    assert table.text_a == ["a, quoted, text", "plain"] and table.lines == [2, 3]


def test_labels_inferred_checked_and_scores_parsed():
    assert infer_label_list(["10", "2", "1", "2"]) == ["1", "2", "10"]
    assert infer_label_list(["not_entailment", "entailment"]) == ["entailment", "not_entailment"]
    with pytest.raises(FinetuneDataError, match=r"dev\.tsv:7: label 'neutral' is not one of the training labels"):
        encode_labels(["entailment", "neutral"], ["entailment", "not_entailment"], "dev.tsv", [6, 7])
    assert parse_scores(["3.8", "0"], "f", [2, 3]) == [3.8, 0.0]
    with pytest.raises(FinetuneDataError, match=r"f:3: regression target 'high' is not a number"):
        parse_scores(["1", "high"], "f", [2, 3])


def test_buckets_keep_every_example_once_with_few_shapes(bert_tokenizer):
    table = read_table(os.path.join(DATA, "sst2_train_300.tsv"), "sentence", None, "label")
    examples = sentence_examples(table, bert_tokenizer(True), 64, [int(x) for x in table.labels])
    steps = batches_per_pass(examples, 16, 64)
    batches = list(batched(examples, 16, 64, training=True, seed=3))
    assert len(batches) == steps
    seen, shapes = [], set()
    for b in batches:
        shapes.add(tuple(b["input_word_ids"].shape))
        real = b["index"].numpy() >= 0
        assert (b["weight"].numpy() == real).all()  # filler rows weigh nothing
        lengths = b["input_mask"].numpy().sum(1)
        assert lengths[real].max() <= b["input_mask"].shape[1]  # nothing real was cut
        seen.extend(b["index"].numpy()[real].tolist())
    assert sorted(seen) == list(range(300))
    assert {s[0] for s in shapes} == {16} and {s[1] for s in shapes} <= {16, 32, 48, 64}
    # The packed ids are those of the plain (unbucketed) packing.
    first = next(iter(examples))
    direct = bert_tokenizer(True).pack(tf.constant([table.text_a[0]]), seq_length=64)
    np.testing.assert_array_equal(first["input_word_ids"].numpy(), direct["input_word_ids"].numpy()[0])


def test_conll_reader_and_first_piece_labels(bert_tokenizer, tmp_path):
    data = read_conll(os.path.join(DATA, "conll_train_slice.txt"))
    assert data.words[0] == ["EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "."]
    assert data.tags[0] == ["B-ORG", "O", "B-MISC", "O", "O", "O", "B-MISC", "O", "O"]
    assert all("-DOCSTART-" not in s for s in data.words)
    tok = bert_tokenizer(True)
    labels = ["O", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    features = tagging_features(tok, data, 64, labels)
    a = features.arrays
    for s in range(20):
        positions = features.first_piece[s]
        weights = a["label_weights"][s]
        kept = positions[positions >= 0]
        assert set(np.flatnonzero(weights)) == set(kept.tolist())  # loss only on first pieces
        for w, p in enumerate(positions):
            if p >= 0:
                assert labels[a["label_ids"][s, p]] == data.tags[s][w]
                assert not tok.vocab[a["input_word_ids"][s, p]].startswith("##")
    bad = tmp_path / "bad.txt"
    bad.write_text("EU NNP B-NP B-ORG\nrejects\n")
    with pytest.raises(FinetuneDataError, match=r"bad\.txt:2: expected 'word \.\.\. tag'"):
        read_conll(str(bad))
    with pytest.raises(FinetuneDataError, match="tag 'B-XYZ' is not one of the training tags"):
        (tmp_path / "x.txt").write_text("Foo NNP B-NP B-XYZ\n")
        tagging_features(tok, read_conll(str(tmp_path / "x.txt")), 16, labels)


def test_squad_offset_mismatch_is_a_counted_skip_and_empty_is_an_error(tmp_path):
    data = {"version": "1.1", "data": [{"title": "t", "paragraphs": [{"context": "Paris is in France.", "qas": [
        {"id": "ok", "question": "Where is Paris?", "answers": [{"text": "France", "answer_start": 12}]},
        {"id": "off", "question": "Where?", "answers": [{"text": "France", "answer_start": 3}]}]}]}]}
    path = tmp_path / "s.json"
    path.write_text(json.dumps(data))
    read = read_squad(str(path))
    assert [e.qid for e in read.examples] == ["ok"] and read.skipped == ["off"]
    data["data"][0]["paragraphs"][0]["qas"] = data["data"][0]["paragraphs"][0]["qas"][1:]
    path.write_text(json.dumps(data))
    with pytest.raises(FinetuneDataError, match="no usable questions .1 skipped: answer offsets"):
        read_squad(str(path))
    (tmp_path / "e.json").write_text("")
    with pytest.raises(FinetuneDataError, match="not valid JSON"):
        read_squad(str(tmp_path / "e.json"))


def _gold_window_logits(features, seq):
    starts, ends, has = [], [], set()
    for w in range(len(features.example_index)):
        s, e = np.zeros(seq, np.float32), np.zeros(seq, np.float32)
        sp, ep = features.arrays["start_positions"][w], features.arrays["end_positions"][w]
        if sp > 0:
            s[sp], e[ep] = 10.0, 10.0
            has.add(int(features.example_index[w]))
        starts.append(s)
        ends.append(e)
    return starts, ends, has


@pytest.mark.parametrize("seq, stride", [(384, 128), (128, 32)])
def test_squad_windows_round_trip_on_the_shared_file(bert_tokenizer, seq, stride):
    """Decoding each window's gold start/end pieces through the post-processing gives back the gold answer
    (after the official normalisation) for every answer that fits a window, except where the answer is
    part of a whitespace word whose pieces cannot express it ("six" inside "sixth"): the original's
    windows have the same exceptions, and each one is checked to be of that kind."""
    path = os.path.join(SHARED, "squad_v1.1", "train-v1.1-first11articles.json")
    if not os.path.exists(path):
        pytest.skip("shared SQuAD file not present")
    tok = bert_tokenizer(True)
    data = read_squad(path)
    assert len(data.examples) == 3807 and not data.skipped
    features = squad_features(tok, data, seq, stride, 64)
    starts, ends, has = _gold_window_logits(features, seq)
    predictions, _ = best_answers(data, features, starts, ends, tok, max_answer_length=10_000)
    exceptions = []
    for i, example in enumerate(data.examples):
        if i in has and normalize_answer(predictions[example.qid]) != normalize_answer(example.answer_text):
            exceptions.append(example)
    for example in exceptions:
        words = " ".join(example.doc_tokens[example.start_word:example.end_word + 1])
        answer_ids = tok.tokenize(tf.constant([example.answer_text]))[0].numpy().tolist()
        word_ids = tok.tokenize(tf.constant([words]))[0].numpy().tolist()
        inside = any(word_ids[k:k + len(answer_ids)] == answer_ids for k in range(len(word_ids)))
        assert not inside, f"{example.qid}: {example.answer_text!r} is expressible in pieces but came back wrong"
    assert len(has) >= 0.99 * len(data.examples)
    assert len(exceptions) <= 30, [(e.qid, e.answer_text) for e in exceptions]  # 26 at 384/128: see docs
