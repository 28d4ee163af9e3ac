"""Batch scoring: a file through a registered model, in bounded memory, recorded as a job."""
