"""`bert-tf export` (a fine-tuned run as a versioned SavedModel for TF Serving) and `bert-tf check-serving`."""

from __future__ import annotations

import argparse
import json


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="export a fine-tuned run as a versioned SavedModel that takes raw text",
                       description="Writes OUTPUT/<version>/ (saved_model.pb, variables/, assets/vocab.txt, "
                                   "export_info.json) with serving_default (text in), serve_examples (tf.Example "
                                   "in) and serve_ids (int32 ids in); checks the ops against the TF Serving "
                                   "release and the reloaded outputs against the Keras model.")
    p.add_argument("--model-dir", required=True, help="a bert-tf finetune output directory (its best/ model)")
    p.add_argument("--output", required=True, help="the model base path, e.g. saved_models/sst2")
    p.add_argument("--version", type=int, help="default: one more than the highest version present")
    p.add_argument("--serving-target", default="2.12", choices=("2.12", "2.20"),
                   help="the oldest TF Serving release that must run it (2.12-2.19 share one op set)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --version")
    p.set_defaults(func=run)
    c = sub.add_parser("check-serving", help="list a SavedModel's non-core ops and check a TF Serving release has them")
    c.add_argument("path")
    c.add_argument("--serving-target", default="2.12", choices=("2.12", "2.20"))
    c.set_defaults(func=run_check)


def run(args: argparse.Namespace) -> int:
    from bert_tf.export.exporter import export_run
    path = export_run(args.model_dir, args.output, args.version, args.serving_target, args.overwrite)
    print(f"exported {path}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from bert_tf.export.op_check import check_serving
    from bert_tf.export.saved_model_predict import resolve_version
    report = check_serving(resolve_version(args.path), args.serving_target)
    print(json.dumps(report, indent=2))
    return 0
