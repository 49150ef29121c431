"""Fine-tuning metrics as their communities report them: GLUE, SQuAD (official script), CoNLL (conlleval)."""

from bert_tf.metrics.classification import (accuracy, binary_f1, classification_metrics, matthews_corrcoef,
                                            pearson, spearman)
from bert_tf.metrics.conlleval import entity_scores, extract_entities
from bert_tf.metrics.squad import normalize_answer, squad_v1_scores, squad_v2_scores

__all__ = ["accuracy", "binary_f1", "classification_metrics", "matthews_corrcoef", "pearson", "spearman",
           "entity_scores", "extract_entities", "normalize_answer", "squad_v1_scores", "squad_v2_scores"]
