"""Fine-tuning: classification/regression (GLUE), span QA (SQuAD) and token tagging (CoNLL) with `model.fit`."""

from bert_tf.finetuning.options import FinetuneOptions
from bert_tf.finetuning.run import run_finetuning

__all__ = ["FinetuneOptions", "run_finetuning"]
