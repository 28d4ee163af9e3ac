"""Raises while imported: ``_import_meanwhile`` must keep that off the command's stderr."""

raise RuntimeError("broken on import")
