"""`bert-tf quickstart`: the whole life of a BERT on shipped data, stage by stage, resumable, with a report."""

from bert_tf.quickstart.stages import QuickstartOptions, run_quickstart

__all__ = ["QuickstartOptions", "run_quickstart"]
