"""Where prediction logs live: ``predictions/`` beside the local artifact folder, one folder per endpoint.

With the default settings that is ``<workspace>/.mloop/predictions/<endpoint>/``. When the
artifacts are not in a local folder (``s3://``, ``memory://``), the log stays local, in
``<workspace>/.mloop/predictions/``: it is appended many times a second and an object store
cannot append.

An endpoint name becomes a folder name, so it is checked before any path is built: the pattern
has no separator, no leading dot and no ``..``, and the resolved folder must sit directly in the
log root.
"""

from __future__ import annotations

import re
from pathlib import Path

from mloop.config import STATE_DIR, Settings, artifacts_folder
from mloop.errors import InvalidInput

ENDPOINT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
FOLDER_NAME = "predictions"


def folder_for(settings: Settings) -> Path:
    """The prediction log root of a workspace (not created here)."""
    artifacts = artifacts_folder(settings.artifacts_url, settings.root)
    base = artifacts.parent if artifacts is not None else settings.root / STATE_DIR
    return base / FOLDER_NAME


def check_endpoint(name: str) -> str:
    if not isinstance(name, str) or not ENDPOINT_PATTERN.fullmatch(name):
        raise InvalidInput(
            f"{name!r} is not an endpoint name; use letters, digits, '.', '_' and '-', "
            "starting with a letter or digit (at most 128 characters)."
        )
    return name


def endpoint_folder(root: Path, endpoint: str) -> Path:
    """``root/endpoint``, refusing any name that could point elsewhere."""
    folder = Path(root) / check_endpoint(endpoint)
    if folder.resolve().parent != Path(root).resolve():
        raise InvalidInput(f"Endpoint name {endpoint!r} does not name a folder inside {root}.")
    return folder
