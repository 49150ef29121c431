"""`bert-tf vocab`: learn a WordPiece vocab from text files (plain or gzip, streamed)."""

from __future__ import annotations

import argparse
import os
import sys
import time


def add_parser(sub) -> None:
    p = sub.add_parser("vocab", help="learn a WordPiece vocab.txt from text files",
                       description=__doc__.split("\n\n")[0] + " Reserved tokens come first: "
                       "[PAD] [UNK] [CLS] [SEP] [MASK]. Two runs on the same input give the same file.")
    p.add_argument("--input", required=True, help="glob(s) of text files, comma-separated; gzip is detected")
    p.add_argument("--vocab-size", type=int, required=True, help="tokens in the vocab, reserved ones included")
    p.add_argument("--output", required=True, help="vocab file to write (one token per line)")
    p.add_argument("--cased", action="store_true", help="keep case and accents (default: uncased)")
    p.add_argument("--max-lines", type=int, default=None, help="read only the first N lines")
    p.add_argument("--max-unique-chars", type=int, default=1000,
                   help="alphabet size; words with rarer characters are left out (default: %(default)s)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if os.path.exists(args.output) and not args.overwrite:
        raise FileExistsError(f"{args.output} already exists; pass --overwrite to replace it")
    from bert_tf.atomic import write_text_atomic
    from bert_tf.tokenization import BertTokenizer, learn_vocab
    from bert_tf.text_files import expand_inputs, iter_corpus

    start = time.monotonic()

    def progress(message: str) -> None:
        print(f"[{time.monotonic() - start:6.1f}s] {message}", file=sys.stderr, flush=True)

    vocab = learn_vocab(args.input, args.vocab_size, lower_case=not args.cased, max_lines=args.max_lines,
                        progress=progress, max_unique_chars=args.max_unique_chars)
    write_text_atomic(args.output, "".join(t + "\n" for t in vocab))
    # Coverage: how much of (the start of) the corpus the new vocab covers without [UNK].
    import tensorflow as tf
    tokenizer = BertTokenizer(args.output, lower_case=not args.cased)
    sample = [line for _, line in zip(range(20000), iter_corpus(expand_inputs(args.input))) if line.strip()]
    ids = tokenizer.tokenize(tf.constant(sample)).flat_values if sample else tf.zeros([0], tf.int32)
    unk = float(tf.reduce_mean(tf.cast(tf.equal(ids, tokenizer.unk_id), tf.float32))) if sample else 0.0
    print(f"wrote {args.output}: {len(vocab)} tokens ({'cased' if args.cased else 'uncased'}) in "
          f"{time.monotonic() - start:.1f} s; [UNK] rate on the first {len(sample)} lines: {100 * unk:.3f}%")
    return 0
