"""bert-tf: BERT for TensorFlow shops, on Keras 3, tf.data and tensorflow-text.

Public API (everything else may change):

- `BertConfig`, `PRESETS`: the original `bert_config.json` and named sizes `bert_tiny` ... `bert_large`.
- `BertEncoder`: the encoder with TF Hub BERT inputs/outputs.
- `BertPretrainer`, `BertClassifier`, `BertSpanLabeler`, `BertTokenClassifier`: heads on top of it.
- `load_encoder`, `load_pretrainer`: import Google, Hugging Face and bert-tf checkpoints.
- `BertTokenizer`: the reference WordPiece tokenizer as TensorFlow ops (tokenize, pack, detokenize).
- `learn_vocab`: learn a WordPiece vocab from text files.
- `FinetuneOptions`, `run_finetuning`: the `bert-tf finetune` job (GLUE-style tables, SQuAD, CoNLL tagging).
- `export_run`, `export_hub_pair`, `check_serving`: SavedModels for TF Serving, the TF Hub style pair, the op check.

Names are imported on first use, so `import bert_tf` (and the CLI's start-up) does not pay for
TensorFlow until a model is touched.
"""

import importlib as _importlib
import os as _os

_os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.1.0"

_EXPORTS = {
    "BertConfig": "bert_tf.config", "ConfigError": "bert_tf.config", "PRESETS": "bert_tf.presets",
    "BertEncoder": "bert_tf.models", "BertPretrainer": "bert_tf.models", "BertClassifier": "bert_tf.models",
    "BertSpanLabeler": "bert_tf.models", "BertTokenClassifier": "bert_tf.models",
    "load_encoder": "bert_tf.checkpoints", "load_pretrainer": "bert_tf.checkpoints",
    "CheckpointError": "bert_tf.checkpoints",
    "BertTokenizer": "bert_tf.tokenization", "VocabError": "bert_tf.tokenization",
    "learn_vocab": "bert_tf.tokenization",
    "FinetuneOptions": "bert_tf.finetuning", "run_finetuning": "bert_tf.finetuning",
    "export_run": "bert_tf.export.exporter", "export_hub_pair": "bert_tf.export.hub",
    "check_serving": "bert_tf.export.op_check",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(_importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'bert_tf' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
