"""`bert-tf quickstart`: the main job on shipped data, stage by stage (see `bert_tf/quickstart/stages.py`)."""

from __future__ import annotations

import argparse
import os


def add_parser(sub) -> None:
    p = sub.add_parser("quickstart", help="the whole life of a BERT on shipped data, with a report",
                       description="Learn a vocab from shipped public-domain books, write pretraining TFRecords, "
                                   "pretrain, evaluate on a held-out book, fine-tune SST-2 sentiment from the "
                                   "pretrained and from a random encoder, export for TF Serving and as a TF Hub "
                                   "style pair, serve from a fresh process, write WORKDIR/report.md. Rerunning "
                                   "skips finished stages; a killed pretraining resumes from its checkpoint.")
    p.add_argument("--workdir", default="runs/quickstart", help="(default: %(default)s)")
    p.add_argument("--saved-models", default="saved_models", help="where exports go (default: %(default)s)")
    p.add_argument("--preset", default="bert_tiny", help="model size (default: %(default)s)")
    p.add_argument("--steps", type=int, default=500, help="pretraining steps (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=64, help="pretraining batch (default: %(default)s)")
    p.add_argument("--finetune-epochs", type=int, default=10, help="(default: %(default)s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bert_tf.quickstart import QuickstartOptions, run_quickstart
    options = QuickstartOptions(workdir=args.workdir, saved_models=args.saved_models, preset=args.preset,
                                steps=args.steps, batch_size=args.batch_size, finetune_epochs=args.finetune_epochs)
    state = run_quickstart(options)
    f = {k: v["figures"] for k, v in state.items() if not k.startswith("_")}
    print(f"\ndone in {state['_total_seconds_this_run']:.0f} s. Held-out sentiment accuracy: "
          f"{f['finetune_pretrained']['best_accuracy']:.3f} from the pretrained encoder, "
          f"{f['finetune_random']['best_accuracy']:.3f} from a random one.")
    print(f"report: {os.path.abspath(f['report']['report'])}")
    print(f"exports: {f['export']['classifier']}, {f['export']['preprocess']}, {f['export']['encoder']}")
    return 0
