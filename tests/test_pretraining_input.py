"""The training input pipeline: interchangeable with google-research/bert's reader and writer, shards
per input pipeline, dynamic masking, `BertPretrainer.fit`; and TFDS text input for the generator."""

from __future__ import annotations

import ast
import os
import random
import types

import numpy as np
import pytest
import tensorflow as tf

from conftest import DATA, run_cli

SLICE = os.path.join(DATA, "gutenberg_books_slice.txt")


@pytest.fixture(scope="module")
def made(tmp_path_factory, minilm_vocab):
    """Our files, masked (3 shards) and unmasked for dynamic masking (gzip, 1 shard)."""
    root = tmp_path_factory.mktemp("input")
    common = ["--input", SLICE, "--vocab", minilm_vocab, "--dupe-factor", "1", "--block-mb", "0.25"]
    assert run_cli("create-pretraining-data", *common, "--output-dir", str(root / "masked"), "--num-shards", "3") == 0
    assert run_cli("create-pretraining-data", *common, "--output-dir", str(root / "dynamic"), "--dynamic-masking",
                    "--gzip") == 0
    return root


def _original_input_fn_builder():
    """`input_fn_builder` and `_decode_record` from bert-tensorflow's run_pretraining.py, executed as
    written with a TF1 namespace (`tf.contrib.data.map_and_batch` is tf.data.experimental's)."""
    import bert
    path = os.path.join(os.path.dirname(bert.__file__), "run_pretraining.py")
    tree = ast.parse(open(path, encoding="utf-8").read())
    wanted = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in ("input_fn_builder", "_decode_record")]
    assert len(wanted) == 2

    class TF1:
        contrib = types.SimpleNamespace(data=tf.data.experimental)

        def __getattr__(self, name):
            return getattr(tf.compat.v1, name)

    namespace = {"tf": TF1()}
    exec(compile(ast.Module(body=wanted, type_ignores=[]), path, "exec"), namespace)
    return namespace["input_fn_builder"]


def test_the_original_reader_parses_our_files(made):
    from pipelines.pretraining.input_pipeline import list_files, pretraining_dataset
    files = list_files(str(made / "masked" / "*.tfrecord"))[:1]  # the original reads files in order
    input_fn = _original_input_fn_builder()(files, 128, 20, is_training=False)
    theirs = next(iter(input_fn({"batch_size": 16})))
    ours = next(iter(pretraining_dataset(files, 16, is_training=False, original_names=True)))
    assert set(theirs) == set(ours) == {"input_ids", "input_mask", "segment_ids", "masked_lm_positions",
                                        "masked_lm_ids", "masked_lm_weights", "next_sentence_labels"}
    for name in theirs:
        assert theirs[name].dtype == ours[name].dtype and theirs[name].shape == ours[name].shape
        np.testing.assert_array_equal(theirs[name].numpy(), ours[name].numpy())


def test_our_reader_parses_the_original_writers_files(tmp_path, original_tokenizer):
    from bert import create_pretraining_data as original
    from pipelines.pretraining.input_pipeline import pretraining_dataset
    tok = original_tokenizer(True)
    lines = [line for line in open(SLICE, encoding="utf-8").read().split("\n") if line.strip()][:400]
    documents = [[tok.tokenize(line) for line in lines[i:i + 100]] for i in range(0, 400, 100)]
    instances = [inst for index in range(len(documents)) for inst in original.create_instances_from_document(
        documents, index, 128, 0.1, 0.15, 20, list(tok.vocab.keys()), random.Random(3))]
    path = str(tmp_path / "original.tfrecord")
    original.write_instance_to_example_files(instances, tok, 128, 20, [path])
    batch = next(iter(pretraining_dataset(path, len(instances), is_training=False)))
    assert batch["input_word_ids"].dtype == tf.int32 and batch["input_word_ids"].shape == (len(instances), 128)
    for row, instance in enumerate(instances):
        ids = tok.convert_tokens_to_ids(instance.tokens)
        assert batch["input_word_ids"][row, :len(ids)].numpy().tolist() == ids
        assert batch["input_type_ids"][row, :len(ids)].numpy().tolist() == instance.segment_ids
        n = len(instance.masked_lm_positions)
        assert batch["masked_lm_positions"][row, :n].numpy().tolist() == instance.masked_lm_positions
        assert batch["masked_lm_ids"][row, :n].numpy().tolist() == tok.convert_tokens_to_ids(instance.masked_lm_labels)
        assert int(batch["next_sentence_labels"][row, 0]) == int(instance.is_random_next)


@pytest.mark.parametrize("pipelines", [2, 5])  # fewer pipelines than files: by file; more: by record
def test_input_pipelines_get_disjoint_shares(made, pipelines):
    from pipelines.pretraining.input_pipeline import pretraining_dataset

    def rows(context):
        dataset = pretraining_dataset(str(made / "masked" / "*.tfrecord"), 8 * pipelines, is_training=False,
                                      input_context=context, drop_remainder=False)
        return [tuple(r) for b in dataset for r in b["input_word_ids"].numpy().tolist()]

    everything = rows(None)
    shares = [rows(tf.distribute.InputContext(pipelines, i, pipelines)) for i in range(pipelines)]
    assert sorted(sum(shares, [])) == sorted(everything)
    assert all(len(s) > 0 for s in shares)
    first = next(iter(pretraining_dataset(str(made / "masked" / "*.tfrecord"), 8 * pipelines, is_training=False,
                                          input_context=tf.distribute.InputContext(pipelines, 0, pipelines))))
    assert first["input_word_ids"].shape == (8, 128)  # the per-replica batch


def test_training_batches_are_static_shuffled_and_repeat(made):
    from pipelines.pretraining.input_pipeline import pretraining_dataset
    dataset = pretraining_dataset(str(made / "masked" / "*.tfrecord"), 32, seed=1)
    assert all(dim is not None for spec in dataset.element_spec.values() for dim in spec.shape)
    batches = [b["input_word_ids"].numpy() for b in dataset.take(400)]  # more than one epoch
    assert len(batches) == 400
    in_order = next(iter(pretraining_dataset(str(made / "masked" / "*.tfrecord"), 32, is_training=False)))
    assert not np.array_equal(batches[0], in_order["input_word_ids"].numpy())


def test_dynamic_masking(made, minilm_vocab):
    from pipelines.pretraining.input_pipeline import DynamicMasking, pretraining_dataset
    masking = DynamicMasking.from_vocab(minilm_vocab)
    pattern = str(made / "dynamic" / "*.tfrecord.gz")
    plain = next(iter(pretraining_dataset(pattern, 256, is_training=False, original_names=True,
                                          max_predictions_per_seq=20)))  # unmasked files hold no masks ...
    assert "masked_lm_ids" not in plain
    dataset = pretraining_dataset(pattern, 256, is_training=False, dynamic_masking=masking)
    first, second = next(iter(dataset)), next(iter(dataset))
    ids, original = first["input_word_ids"].numpy(), plain["input_ids"].numpy()
    weights = first["masked_lm_weights"].numpy() > 0
    positions, labels = first["masked_lm_positions"].numpy(), first["masked_lm_ids"].numpy()
    candidates = plain["input_mask"].numpy().sum() - 3 * len(ids)
    assert abs(weights.sum() / candidates - 0.15) < 0.01
    np.testing.assert_array_equal(np.take_along_axis(original, positions, 1)[weights], labels[weights])
    assert not np.isin(labels[weights], [0, 101, 102]).any()
    at = np.take_along_axis(ids, positions, 1)[weights]
    assert 0.75 < (at == 103).mean() < 0.85 and 0.05 < (at == labels[weights]).mean() < 0.15
    unmasked = np.ones_like(ids, dtype=bool)
    np.put_along_axis(unmasked, positions, ~weights, axis=1)
    np.testing.assert_array_equal(ids[unmasked], original[unmasked])
    assert not np.array_equal(first["masked_lm_positions"].numpy(), second["masked_lm_positions"].numpy())
    # files with stored masks: undone, then masked afresh
    stored = next(iter(pretraining_dataset(str(made / "masked" / "*.tfrecord"), 64, is_training=False,
                                           original_names=True)))
    remasked = next(iter(pretraining_dataset(str(made / "masked" / "*.tfrecord"), 64, is_training=False,
                                             dynamic_masking=masking)))
    restored = stored["input_ids"].numpy().copy()
    w = stored["masked_lm_weights"].numpy() > 0
    np.put_along_axis(restored, stored["masked_lm_positions"].numpy(),
                      np.where(w, stored["masked_lm_ids"].numpy(),
                               np.take_along_axis(restored, stored["masked_lm_positions"].numpy(), 1)), axis=1)
    w2 = remasked["masked_lm_weights"].numpy() > 0
    np.testing.assert_array_equal(np.take_along_axis(restored, remasked["masked_lm_positions"].numpy(), 1)[w2],
                                  remasked["masked_lm_ids"].numpy()[w2])


def test_pretrainer_fits_on_the_pipeline(made):
    import keras

    from bert_tf import BertEncoder, BertPretrainer
    from pipelines.pretraining.input_pipeline import pretraining_dataset
    keras.utils.set_random_seed(0)
    encoder = BertEncoder(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                          intermediate_size=64, max_position_embeddings=128)
    model = BertPretrainer(encoder)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(pretraining_dataset(str(made / "masked" / "*.tfrecord"), 16, seed=0), steps_per_epoch=6,
                        epochs=3, verbose=0)
    losses = history.history["loss"]
    assert np.isfinite(losses).all() and losses[0] > losses[1] > losses[2] and losses[2] < losses[0] - 0.2


def test_tfds_text_dataset_gives_the_same_shards_as_the_text_file(tmp_path, minilm_vocab):
    """A TFDS dataset built here from the slice (one example per book) vs the slice as a text file."""
    import tensorflow_datasets as tfds

    books = [b for b in open(SLICE, encoding="utf-8").read().split("\n\n") if b.strip()]

    class GutenbergBooksSlice(tfds.core.GeneratorBasedBuilder):
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({"text": tfds.features.Text()}),
                                         disable_shuffling=True)  # books in corpus order, as in the text file

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples()}

        def _generate_examples(self):
            for i, book in enumerate(books):
                yield i, {"text": book}

    data_dir = str(tmp_path / "tfds")
    GutenbergBooksSlice(data_dir=data_dir).download_and_prepare(
        download_config=tfds.download.DownloadConfig(try_download_gcs=False))
    common = ["--vocab", minilm_vocab, "--dupe-factor", "2", "--num-shards", "2", "--block-mb", "0.25"]
    assert run_cli("create-pretraining-data", "--tfds", "gutenberg_books_slice:train", "--tfds-data-dir", data_dir,
                    *common, "--output-dir", str(tmp_path / "from_tfds")) == 0
    assert run_cli("create-pretraining-data", "--input", SLICE, *common, "--output-dir", str(tmp_path / "from_text")) == 0
    for shard in ("pretraining-00000-of-00002.tfrecord", "pretraining-00001-of-00002.tfrecord"):
        assert open(tmp_path / "from_tfds" / shard, "rb").read() == open(tmp_path / "from_text" / shard, "rb").read()
    assert run_cli("create-pretraining-data", "--tfds", "gutenberg_books_slice:train", "--tfds-data-dir", data_dir,
                    "--text-feature", "body", *common, "--output-dir", str(tmp_path / "bad_feature")) == 2
