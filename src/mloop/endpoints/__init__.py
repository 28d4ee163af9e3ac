"""Endpoints: named serving targets, changed only by appending immutable revisions.

``service`` holds the operations (deploy, switch, rollback, delete, list, get, history,
``follow_aliases``, ``serving_snapshot``), ``revisions`` the typed records, ``status`` what a
running server reports per endpoint. docs/endpoints.md describes the model for users.
"""
