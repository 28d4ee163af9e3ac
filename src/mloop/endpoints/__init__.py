"""Endpoints: named serving targets and their immutable revisions (deploy, switch, rollback)."""
