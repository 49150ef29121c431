"""`bert-tf create-pretraining-data` and `bert-tf inspect-pretraining-data`.

The first takes the original script's options (same names with dashes, same defaults; the original
underscore spellings are accepted too) plus sharding, workers, gzip and TFDS input. The second
prints what a set of pretraining TFRecords holds: counts, decoded examples and statistics.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def add_parser(sub) -> None:
    create = sub.add_parser(
        "create-pretraining-data", help="raw text to masked-LM / next-sentence TFRecords (the original format)",
        description="Text in the original format (one sentence per line, a blank line between documents; "
                    "plain or gzip) or a TFDS text dataset, to sharded TFRecords with the original features.")
    source = create.add_argument_group("input")
    source.add_argument("--input", "--input-file", "--input_file", dest="input",
                        help="text files: glob(s), comma-separated")
    source.add_argument("--tfds", metavar="NAME:SPLIT", help="a prepared TFDS dataset instead of --input")
    source.add_argument("--text-feature", default="text", help="TFDS feature holding the text (default: text)")
    source.add_argument("--tfds-data-dir", help="TFDS data_dir (default: TFDS's own)")
    source.add_argument("--skip-bad-lines", action="store_true",
                        help="skip (and count) lines that are not UTF-8 instead of stopping at the first")
    create.add_argument("--vocab", "--vocab-file", "--vocab_file", dest="vocab", required=True)
    create.add_argument("--output-dir", required=True)
    create.add_argument("--cased", action="store_true", help="keep case (cased vocab); default lowercases")
    create.add_argument("--do-lower-case", "--do_lower_case", choices=("true", "false", "True", "False"),
                        help="the original's spelling: --do_lower_case=False is --cased")
    algo = create.add_argument_group("the original's options")
    algo.add_argument("--max-seq-length", "--max_seq_length", type=int, default=128)
    algo.add_argument("--max-predictions-per-seq", "--max_predictions_per_seq", type=int, default=20)
    algo.add_argument("--masked-lm-prob", "--masked_lm_prob", type=float, default=0.15)
    algo.add_argument("--dupe-factor", "--dupe_factor", type=int, default=10)
    algo.add_argument("--short-seq-prob", "--short_seq_prob", type=float, default=0.1)
    algo.add_argument("--random-seed", "--random_seed", type=int, default=12345)
    algo.add_argument("--whole-word-masking", "--do_whole_word_mask", action="store_true")
    algo.add_argument("--wwm-per-piece-choice", action="store_true",
                      help="with whole-word masking, draw [MASK]/keep/random per piece as the original does "
                           "(its issue #910) instead of once per word")
    algo.add_argument("--original-pairing", action="store_true",
                      help="pair sentences exactly as the original: the short target drawn once per document, "
                           "one-sentence chunks always random next (default: per chunk, and a one-sentence "
                           "chunk takes the next sentence; see the README)")
    algo.add_argument("--dynamic-masking", action="store_true",
                      help="store unmasked pairs; the training input pipeline masks on the fly")
    out = create.add_argument_group("output and speed")
    out.add_argument("--num-shards", type=int, default=1)
    out.add_argument("--num-workers", type=int, default=1, help="worker processes (output does not depend on it)")
    out.add_argument("--runner", choices=("local", "beam"), default="local",
                     help="local: --num-workers processes here (default); beam: an Apache Beam pipeline, same "
                          "output bytes (needs pip install 'bert-tf[beam]')")
    out.add_argument("--beam-runner", choices=("DirectRunner", "PrismRunner", "DataflowRunner", "FlinkRunner",
                                               "SparkRunner"),
                     help="with --runner beam (default DirectRunner, --num-workers processes); any other Beam "
                          "pipeline option (--project, --region, --temp_location, --setup_file, "
                          "--direct_num_workers, ...) is passed to Beam as given")
    out.add_argument("--gzip", action="store_true", help="gzip-compressed TFRecords")
    out.add_argument("--block-mb", type=float, default=2.0,
                     help="text per block, the unit of work and of shuffling (default: 2 MB)")
    out.add_argument("--overwrite", action="store_true", help="replace a different run in --output-dir")
    create.set_defaults(func=run_create)

    inspect = sub.add_parser("inspect-pretraining-data", help="counts, decoded examples and statistics of TFRecords")
    inspect.add_argument("pattern", help="TFRecord files or a directory made by create-pretraining-data")
    inspect.add_argument("--vocab", help="vocab for decoding (default: the one in the manifest)")
    inspect.add_argument("--examples", type=int, default=3, help="examples to print (default: 3)")
    inspect.add_argument("--max-records", type=int, default=0, help="read at most this many records (0: all)")
    inspect.set_defaults(func=run_inspect)


def run_create(args: argparse.Namespace) -> int:
    from bert_tf.text_files import expand_inputs
    from pipelines.pretraining.errors import OptionsError
    from pipelines.pretraining.examples import ExampleOptions
    from pipelines.pretraining.generate import RunSpec, Source, create_pretraining_data

    if bool(args.input) == bool(args.tfds):
        raise OptionsError("give exactly one of --input and --tfds")
    source = (Source(tfds=args.tfds, text_feature=args.text_feature, tfds_data_dir=args.tfds_data_dir) if args.tfds
              else Source(files=tuple(expand_inputs(args.input))))
    options = ExampleOptions(
        max_seq_length=args.max_seq_length, max_predictions_per_seq=args.max_predictions_per_seq,
        masked_lm_prob=args.masked_lm_prob, dupe_factor=args.dupe_factor, short_seq_prob=args.short_seq_prob,
        random_seed=args.random_seed, whole_word_masking=args.whole_word_masking,
        wwm_per_piece_choice=args.wwm_per_piece_choice, original_pairing=args.original_pairing,
        dynamic_masking=args.dynamic_masking)
    lower_case = not args.cased and (args.do_lower_case or "true").lower() == "true"
    spec = RunSpec(source=source, vocab_file=args.vocab, lower_case=lower_case, options=options,
                   num_shards=args.num_shards, gzip=args.gzip, block_chars=max(1, int(args.block_mb * 1e6)),
                   skip_bad_lines=args.skip_bad_lines)
    total = source.total_bytes()
    start = time.monotonic()
    state: dict[int, dict] = {}
    last = [0.0]

    def progress(message: dict) -> None:
        state[message["worker"]] = message
        now = time.monotonic()
        if now - last[0] < 0.5 and not message.get("finished"):
            return
        last[0] = now
        instances = sum(m["instances"] for m in state.values())
        blocks = sum(m["blocks"] for m in state.values())
        scanned = min(m["scanned_bytes"] for m in state.values())
        where = f"{100 * min(scanned / total, 1):5.1f}% read · " if total else ""
        if message.get("stage") == "plan":
            where = f"planning blocks: {where}"
        print(f"\r[{now - start:6.1f}s] {where}{blocks} blocks · {instances:,} instances "
              f"({instances / max(now - start, 1e-9):,.0f}/s)", end="", file=sys.stderr, flush=True)

    beam_args = list(getattr(args, "extra_args", []))
    if args.runner != "beam" and (beam_args or args.beam_runner):
        raise OptionsError(f"unrecognized arguments: {' '.join(beam_args or ['--beam-runner'])} "
                           "(Beam pipeline options need --runner beam)")
    if args.beam_runner:
        beam_args = [f"--runner={args.beam_runner}"] + beam_args
    manifest = create_pretraining_data(spec, args.output_dir, num_workers=args.num_workers,
                                       overwrite=args.overwrite, progress=progress, runner=args.runner,
                                       beam_args=beam_args)
    if state:
        print(file=sys.stderr)
    elapsed = time.monotonic() - start
    stats = manifest["statistics"]
    size = sum(s["bytes"] for s in manifest["shards"])
    if manifest.get("resumed") == "already complete":
        print(f"{args.output_dir} already holds this run (same inputs, vocab and options); nothing to do")
    else:
        print(f"wrote {manifest['instances']:,} instances in {manifest['num_shards']} shard(s), "
              f"{size / 1e6:.1f} MB, to {args.output_dir} in {elapsed:.1f} s "
              f"({manifest['instances'] / max(elapsed, 1e-9):,.0f} instances/s, {args.num_workers} worker(s)"
              + (", Apache Beam" if args.runner == "beam" else "") + ")")
    print(_describe_statistics(stats))
    if manifest.get("bad_lines_skipped"):
        print(f"skipped {manifest['bad_lines_skipped']} line(s) that are not UTF-8, e.g. "
              f"{manifest['bad_line_examples'][0]}")
    empty = [s["file"] for s in manifest["shards"] if s["instances"] == 0]
    if empty:
        print(f"note: {len(empty)} shard(s) are empty (fewer blocks than shards); use fewer --num-shards "
              "or a smaller --block-mb")
    print(f"manifest: {os.path.join(args.output_dir, 'manifest.json')}")
    return 0


def _describe_statistics(stats: dict) -> str:
    parts = []
    if "masked_fraction_of_candidates" in stats:
        parts.append(f"masked {100 * stats['masked_fraction_of_candidates']:.2f}% of non-special tokens "
                     f"({100 * stats['as_mask_fraction']:.1f}% [MASK], {100 * stats['as_self_fraction']:.1f}% "
                     f"unchanged, {100 * stats['as_random_fraction']:.1f}% random)")
    parts.append(f"random next {100 * stats['random_next_fraction']:.1f}%")
    if "short_target_fraction" in stats:
        parts.append(f"short target {100 * stats['short_target_fraction']:.1f}%")
    parts.append(f"{stats['mean_tokens_per_instance']:.1f} tokens per instance")
    return "; ".join(parts)


def run_inspect(args: argparse.Namespace) -> int:
    from pipelines.pretraining.inspection import inspect_records

    report = inspect_records(args.pattern, vocab_file=args.vocab, num_examples=args.examples,
                             max_records=args.max_records)
    print(report)
    return 0
