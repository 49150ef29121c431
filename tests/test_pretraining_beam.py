"""create-pretraining-data on Apache Beam: the block plan reads back the stream's blocks, and the
Beam pipeline (DirectRunner, in memory and with two worker processes) writes the local runner's
shards byte for byte, to local and URL (`ram://`, as `gs://` goes) paths, resumes, and refuses bad input."""

from __future__ import annotations

import glob
import gzip
import json
import os
import random

import numpy as np
import pytest

from conftest import DATA, count_made_blocks, run_cli

pytest.importorskip("apache_beam")

SLICE = os.path.join(DATA, "gutenberg_books_slice.txt")  # 26 books, ~40k characters each
OPTIONS = ["--dupe-factor", "3", "--num-shards", "3", "--block-mb", "0.15", "--max-seq-length", "64",
           "--max-predictions-per-seq", "10"]


def _shards(output_dir: str) -> dict[str, bytes]:
    import tensorflow as tf
    return {p.rsplit("/", 1)[-1]: tf.io.gfile.GFile(p, "rb").read()
            for p in sorted(tf.io.gfile.glob(output_dir.rstrip("/") + "/pretraining-*"))}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> list[str]:
    """The slice cut into 4 files at document breaks: plain, gzip, CRLF with a BOM, no final newline."""
    folder = tmp_path_factory.mktemp("corpus")
    documents = open(SLICE, encoding="utf-8").read().split("\n\n")
    parts = np.array_split(np.arange(len(documents)), 4)
    paths = []
    for number, part in enumerate(parts):
        text = "\n\n".join(documents[i] for i in part)
        path = folder / f"part-{number}.txt"
        if number == 1:
            path = folder / f"part-{number}.txt.gz"
            path.write_bytes(gzip.compress(text.encode("utf-8") + b"\n"))
        elif number == 2:
            path.write_bytes(("\ufeff" + text.replace("\n", "\r\n") + "\r\n").encode("utf-8"))
        else:
            path.write_bytes(text.encode("utf-8") + (b"\n" if number == 0 else b""))
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def local_run(corpus, tmp_path_factory, minilm_vocab) -> str:
    out = str(tmp_path_factory.mktemp("local") / "data")
    assert run_cli("create-pretraining-data", "--input", ",".join(corpus), "--vocab", minilm_vocab,
                   "--output-dir", out, *OPTIONS) == 0
    return out


def test_the_plan_reads_back_the_streams_blocks(tmp_path):
    """Any block size (including documents cut for length), any file layout: the ranges read back
    to exactly the blocks the streaming runner makes."""
    from pipelines.pretraining.block_plan import plan_blocks, read_block
    from pipelines.pretraining.blocks import iter_blocks, text_file_lines

    lines = open(SLICE, encoding="utf-8").read().splitlines()[:6000]
    rng = random.Random(0)
    paths, start, number = [], 0, 0
    while start < len(lines):
        chunk = lines[start:start + rng.randint(1, 1500)]
        start += len(chunk)
        ending = "\r\n" if number % 5 == 2 else "\n"
        data = ("\ufeff" if number % 4 == 1 else "") + ending.join(chunk) + (ending if number % 2 else "")
        path = tmp_path / (f"f{number:03d}.txt" + (".gz" if number % 3 == 0 else ""))
        path.write_bytes(gzip.compress(data.encode()) if number % 3 == 0 else data.encode())
        paths.append(str(path))
        number += 1
    for block_chars in (200, 3000, 40000, 10 ** 8):
        expected = list(iter_blocks(text_file_lines(paths), block_chars))
        plan = plan_blocks(paths, block_chars)
        assert [r.index for r in plan] == [b.index for b in expected]
        for block_range, block in zip(plan, expected):
            assert read_block(paths, block_range, block_chars).documents == block.documents
    assert len(plan_blocks(paths, 200)) > 100  # small blocks: many cut documents and file crossings


def test_beam_with_two_worker_processes_writes_the_local_runners_bytes(corpus, local_run, tmp_path, minilm_vocab):
    out = str(tmp_path / "beam")
    assert run_cli("create-pretraining-data", "--input", ",".join(corpus), "--vocab", minilm_vocab,
                   "--output-dir", out, *OPTIONS, "--runner", "beam", "--beam-runner", "DirectRunner",
                   "--num-workers", "2") == 0
    ours, local = _shards(out), _shards(local_run)
    assert len(ours) == 3 and ours == local
    manifest = json.load(open(os.path.join(out, "manifest.json")))
    reference = json.load(open(os.path.join(local_run, "manifest.json")))
    assert manifest["runner"] == "beam" and manifest["num_blocks"] == reference["num_blocks"] >= 6
    assert manifest["statistics"] == reference["statistics"]
    assert not os.path.exists(os.path.join(out, ".work"))

    # The training input pipeline reads it; the acceptance bounds of the tf.data path hold.
    from pipelines.pretraining.input_pipeline import pretraining_dataset
    dataset = pretraining_dataset(os.path.join(out, "*.tfrecord"), 512, max_seq_length=64, max_predictions_per_seq=10,
                                  is_training=False, original_names=True, drop_remainder=False)
    batches = list(dataset.as_numpy_iterator())
    labels = np.concatenate([b["next_sentence_labels"] for b in batches]).reshape(-1)
    weights = np.concatenate([b["masked_lm_weights"] for b in batches])
    assert len(labels) == manifest["instances"] > 2000
    assert abs(labels.mean() - 0.5) < 0.03
    stats = manifest["statistics"]
    lengths = np.concatenate([b["input_mask"] for b in batches]).sum(axis=1)
    # The original's budget: round(15% of the sequence, specials included), at least 1, at most 10.
    assert (weights.sum(axis=1) == np.clip(np.round(lengths * 0.15), 1, 10)).all()
    assert weights.sum() / (lengths - 3).sum() == pytest.approx(stats["masked_fraction_of_candidates"], abs=1e-9)
    assert abs(stats["as_mask_fraction"] - 0.8) < 0.02 and abs(stats["as_self_fraction"] - 0.1) < 0.015


def test_beam_writes_to_a_url_path_and_resumes_a_failed_run(corpus, local_run, minilm_vocab, monkeypatch, capsys):
    """`ram://` goes through tf.io.gfile as `gs://` does. The in-memory runner runs the DoFns in
    this process, so a failure can be injected: a failed pipeline keeps its finished blocks (a cluster
    job is more often lost to the cluster than to its input), and the rerun does not make them again."""
    out = f"ram://beam-{os.getpid()}/data"
    args = ["create-pretraining-data", "--input", ",".join(corpus), "--vocab", minilm_vocab, "--output-dir", out,
            *OPTIONS, "--runner", "beam", "--direct_running_mode=in_memory"]
    count_made_blocks(monkeypatch, interrupt_at=3)
    assert run_cli(*args) == 2  # Beam reports the worker's failure; the launcher keeps the made blocks
    assert "2 of" in capsys.readouterr().err
    import tensorflow as tf
    assert not tf.io.gfile.exists(out + "/manifest.json") and not _shards(out)
    assert len(tf.io.gfile.glob(out + "/.work/block-*.json")) == 2
    calls = count_made_blocks(monkeypatch)
    assert run_cli(*args) == 0
    total = json.load(open(os.path.join(local_run, "manifest.json")))["num_blocks"]
    assert len(calls) == total - 2
    assert _shards(out) == _shards(local_run)
    assert json.loads(tf.io.gfile.GFile(out + "/manifest.json").read())["runner"] == "beam"
    tf.io.gfile.rmtree(out.rsplit("/", 1)[0])


def test_beam_reads_url_inputs(corpus, local_run, minilm_vocab, tmp_path):
    """Input files and vocab behind a scheme (`ram://` here, `gs://` on a cluster): planned and read back by
    byte ranges through tf.io.gfile (gzip included), the same bytes out."""
    import tensorflow as tf
    base = f"ram://beam-in-{os.getpid()}"
    remote = []
    for path in corpus:
        target = f"{base}/{os.path.basename(path)}"
        tf.io.gfile.copy(path, target, overwrite=True)
        remote.append(target)
    tf.io.gfile.copy(minilm_vocab, f"{base}/vocab.txt", overwrite=True)
    out = str(tmp_path / "from_url")
    assert run_cli("create-pretraining-data", "--input", f"{base}/part-*", "--vocab", f"{base}/vocab.txt",
                   "--output-dir", out, *OPTIONS, "--runner", "beam", "--direct_running_mode=in_memory") == 0
    assert _shards(out) == _shards(local_run)
    assert [i["path"] for i in json.load(open(os.path.join(out, "manifest.json")))["inputs"]] == sorted(remote)
    for path in remote + [f"{base}/vocab.txt"]:
        tf.io.gfile.remove(path)


def test_beam_bad_inputs_give_clear_errors_and_no_output(tmp_path, minilm_vocab, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"a fine line\nanother\n\nhere \xff is not utf-8\n")
    out = tmp_path / "out"
    common = ["--vocab", minilm_vocab, "--output-dir", str(out)]
    assert run_cli("create-pretraining-data", "--input", str(bad), *common, "--runner", "beam") == 2
    err = capsys.readouterr().err
    assert "bad.txt: line 4, byte offset 26: not valid UTF-8" in err and "--skip-bad-lines" in err
    assert not glob.glob(str(out / "pretraining-*")) and not (out / "manifest.json").exists()

    # Skipping them works on Beam too, and is counted.
    assert run_cli("create-pretraining-data", "--input", str(bad), *common, "--runner", "beam",
                   "--skip-bad-lines", "--direct_running_mode=in_memory") == 0
    assert json.load(open(out / "manifest.json"))["bad_lines_skipped"] == 1

    assert run_cli("create-pretraining-data", "--tfds", "wikipedia:train", *common, "--runner", "beam",
                   "--overwrite") == 2
    assert "--runner beam reads text files" in capsys.readouterr().err
    assert run_cli("create-pretraining-data", "--input", str(bad), *common, "--runner", "beam", "--overwrite",
                   "--runner_typo=DataflowRunner") == 2
    assert "unrecognized arguments: --runner_typo" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # Beam options without --runner beam
        run_cli("create-pretraining-data", "--input", str(bad), *common, "--direct_num_workers=2")
    assert "unrecognized arguments: --direct_num_workers=2" in capsys.readouterr().err
