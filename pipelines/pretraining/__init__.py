"""Pretraining data: the original BERT instance and masking algorithm (`instances.py`)."""
