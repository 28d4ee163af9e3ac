"""Datasets: reading tables, schemas and rules, validation, profiles, versions and diffs."""
