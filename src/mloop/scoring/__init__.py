"""Scoring a model on rows: what training, the registry and serving share, below all of them."""
