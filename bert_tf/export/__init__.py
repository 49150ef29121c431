"""Serving exports: versioned SavedModels that take raw text (TF Serving layout and signatures), a TF Hub style
preprocessor/encoder pair, and a check that a given TF Serving release links every op the graph uses.

Entry points: `exporter.export_run`, `hub.export_hub_pair`, `op_check.check_serving` (imported lazily: the op
check runs in a fresh process that must not load tensorflow-text).
"""
