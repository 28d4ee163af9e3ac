"""Training: schema-driven feature pipelines, a model zoo, held-out metrics, tracked runs."""
