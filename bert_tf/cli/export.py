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
    h = sub.add_parser("export-hub", help="export a pretrained encoder as a TF Hub style preprocess/encoder pair",
                       description="Writes OUTPUT_preprocess/<v> (text in, input_word_ids/input_mask/input_type_ids "
                                   "out; tokenize and bert_pack_inputs callables) and OUTPUT_encoder/<v> "
                                   "(pooled_output, sequence_output, encoder_outputs; mlm when the checkpoint has "
                                   "the masked-LM head). Both load with tensorflow + tensorflow-text alone.")
    h.add_argument("--checkpoint", required=True, help="anything load_encoder reads (or a pretrain run dir)")
    h.add_argument("--output", required=True, help="e.g. saved_models/minilm: writes minilm_preprocess, minilm_encoder")
    h.add_argument("--seq-length", type=int, default=128)
    h.add_argument("--version", type=int)
    h.add_argument("--vocab", help="vocab.txt when the checkpoint has none")
    h.add_argument("--overwrite", action="store_true")
    h.set_defaults(func=run_hub)
    c = sub.add_parser("check-serving", help="list a SavedModel's non-core ops and check a TF Serving release has them")
    c.add_argument("path")
    c.add_argument("--serving-target", default="2.12", choices=("2.12", "2.20"))
    c.set_defaults(func=run_check)


def run(args: argparse.Namespace) -> int:
    from bert_tf.export.exporter import export_run
    path = export_run(args.model_dir, args.output, args.version, args.serving_target, args.overwrite)
    print(f"exported {path}")
    return 0


def run_hub(args: argparse.Namespace) -> int:
    from bert_tf.export.hub import export_hub_pair
    export_hub_pair(args.checkpoint, args.output, args.seq_length, args.version, args.vocab, overwrite=args.overwrite)
    return 0


def run_check(args: argparse.Namespace) -> int:
    from bert_tf.export.op_check import check_serving
    from bert_tf.export.saved_model_predict import resolve_version
    report = check_serving(resolve_version(args.path), args.serving_target)
    print(json.dumps(report, indent=2))
    return 0
