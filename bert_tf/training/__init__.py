"""Pretraining: the optimizer recipe, the strategy, the custom loop, checkpoints and the `pretrain` job."""
