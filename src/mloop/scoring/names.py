"""Names of what a training run stores, read back by the registry (holdout, export, register)."""

from __future__ import annotations

MODEL_ARTIFACT = "model"
HOLDOUT_ARTIFACT = "holdout.parquet"
SIGNATURE_ARTIFACT = "signature.json"
CALIBRATION_ARTIFACT = "calibration.json"  # CBPE's isotonic curves, fitted on the held-out split
ESTIMATOR_TAG = "mloop.estimator"  # the estimator's real class, module-qualified
VALIDATION_TAG = "mloop.input_validation"  # the signature rules' verdict on the training rows
