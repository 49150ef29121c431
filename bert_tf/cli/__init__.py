"""The `bert-tf` command: one entry point, one module per subcommand.

Each subcommand module has `add_parser(subparsers)` (which sets `func`) and the function it runs.
Errors users can fix (a missing file, a bad config) print one clear line and exit with status 2.
"""

from __future__ import annotations

import argparse
import os
import sys


def _quiet_tensorflow() -> None:
    """TF's C++ start-up chatter hides our progress lines; keep warnings and errors only."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def build_parser() -> argparse.ArgumentParser:
    from bert_tf.cli import convert, export, finetune, pretrain, pretraining_data, quickstart, tokenize, vocab
    parser = argparse.ArgumentParser(prog="bert-tf", description="BERT for TensorFlow shops.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (quickstart, convert, vocab, tokenize, pretraining_data, pretrain, finetune, export):
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    _quiet_tensorflow()
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        # Only a Beam run takes options we do not know (Beam's own pipeline options, passed through).
        if getattr(args, "runner", None) != "beam":
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.extra_args = extra
    from bert_tf.checkpoints.errors import CheckpointError
    from bert_tf.config import ConfigError
    from bert_tf.export.op_check import ServingCompatibilityError
    from bert_tf.finetuning.errors import FinetuneError
    from bert_tf.quickstart.stages import QuickstartError
    from bert_tf.text_files import TextInputError
    from bert_tf.tokenization.vocab import VocabError
    from bert_tf.training.errors import DataError, DivergedError, PreflightError
    from pipelines.finetuning.errors import FinetuneDataError
    from pipelines.pretraining.errors import OptionsError, PipelineRunError
    try:
        return args.func(args) or 0
    except (CheckpointError, ConfigError, VocabError, TextInputError, OptionsError, PreflightError, DivergedError,
            DataError, FinetuneError, FinetuneDataError, ServingCompatibilityError,
            QuickstartError, PipelineRunError, FileNotFoundError, FileExistsError) as e:
        print(f"bert-tf {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"bert-tf {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
