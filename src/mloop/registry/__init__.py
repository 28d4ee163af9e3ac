"""The model registry: versions, aliases, gates, approvals, rollback, lineage and the audit log."""
