"""Experiment tracking: runs, parameters, metric series, artifacts, inputs, environment."""
