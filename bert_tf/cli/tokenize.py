"""`bert-tf tokenize`: show the word pieces and ids of some text, for debugging a vocab or casing."""

from __future__ import annotations

import argparse
import sys
import warnings


def add_parser(sub) -> None:
    p = sub.add_parser("tokenize", help="print word pieces and ids of text (debugging)",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("text", nargs="*", help="text to tokenize; none or '-' reads lines from stdin")
    p.add_argument("--vocab", required=True, help="vocab.txt")
    p.add_argument("--cased", action="store_true", help="keep case and accents (default: uncased)")
    p.add_argument("--pair", default=None, help="second segment: also print the packed BERT inputs")
    p.add_argument("--seq-length", type=int, default=None, help="print packed inputs of this length")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    texts = args.text if args.text and args.text != ["-"] else [line.rstrip("\n") for line in sys.stdin]
    import tensorflow as tf
    from bert_tf.tokenization import BertTokenizer, CasingMismatchWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CasingMismatchWarning)
        tokenizer = BertTokenizer(args.vocab, lower_case=not args.cased)
    for w in caught:
        print(f"bert-tf tokenize: warning: {w.message}", file=sys.stderr)
    batch = tf.constant(texts)
    ids = tokenizer.tokenize(batch)
    pieces = tokenizer.id_to_token(ids)
    for text, row_ids, row_pieces in zip(texts, ids.to_list(), pieces.to_list()):
        print(f"text:   {text}")
        print(f"pieces: {' '.join(p.decode('utf-8') for p in row_pieces)}")
        print(f"ids:    {' '.join(str(i) for i in row_ids)}")
    if args.pair is not None or args.seq_length:
        seq_length = args.seq_length or 32
        text_b = tf.constant([args.pair] * len(texts)) if args.pair is not None else None
        packed = tokenizer.pack(batch, text_b, seq_length=seq_length)
        for i in range(len(texts)):
            print(f"packed ({seq_length}) for text {i + 1}:")
            for name in ("input_word_ids", "input_mask", "input_type_ids"):
                print(f"  {name:15s} {' '.join(str(v) for v in packed[name][i].numpy())}")
    return 0
