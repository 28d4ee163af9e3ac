"""Experiment tracking: runs, parameters, metric series, artifacts, inputs, environment.

- ``runs``: the service (plain functions over a ``Store``): create, log, finish, and, re-exported
  from ``queries``, read back, list and compare runs.
- ``writer``: the batching ``MetricWriter`` behind ``log_metric``.
- ``environment``: what a run ran on (Python, packages, git commit and dirty flag, host).
- ``fluent``: ``with start_run(...) as run:``, the API for training scripts.
- ``records``: the frozen records all of them return.

Nothing is imported here, so importing one module does not pull in the others.
"""
