"""A workspace: settings, the metadata store and the artifact store, opened together.

The one object the edges (CLI, HTTP, the fluent tracking API) build and hand to services; services
themselves take the ``Store`` and ``ArtifactStore`` they use, never a workspace.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from mloop.artifacts import ArtifactStore
from mloop.artifacts.registry import open_artifact_store
from mloop.config import (
    CONFIG_FILE,
    DEFAULT_TOML,
    STATE_DIR,
    Settings,
    artifacts_folder,
    find_workspace,
    load_settings,
)
from mloop.errors import InvalidInput
from mloop.store import Store


@dataclass
class Workspace:
    settings: Settings
    store: Store
    artifacts: ArtifactStore

    @property
    def root(self) -> Path:
        return self.settings.root

    @property
    def user(self) -> str:
        return self.settings.user

    @classmethod
    def open(
        cls, path: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] = os.environ
    ) -> Workspace:
        """Open the workspace at ``path`` (else ``MLOOP_WORKSPACE``, else the nearest parent).

        Raises ``NotFound`` when there is none, ``InvalidInput`` when its store cannot be opened.
        """
        settings = load_settings(find_workspace(path, environ=environ), environ)
        return cls.from_settings(settings)

    @classmethod
    def from_settings(cls, settings: Settings) -> Workspace:
        artifacts = open_artifact_store(settings.artifacts_url, root=settings.root)
        return cls(settings, Store.open(settings.store_url), artifacts)

    @classmethod
    def init(
        cls, path: str | os.PathLike[str] = ".", *, environ: Mapping[str, str] = os.environ
    ) -> tuple[Workspace, bool]:
        """Create (or reopen) a workspace in ``path``; returns it and whether it was new."""
        root = Path(path).expanduser().resolve()
        if root.exists() and not root.is_dir():
            raise InvalidInput(f"{root} is a file, not a folder; pass a folder to `mloop init`.")
        config = root / CONFIG_FILE
        created = not config.exists()
        new_root, new_state = not root.exists(), not (root / STATE_DIR).exists()
        try:
            root.mkdir(parents=True, exist_ok=True)
            (root / STATE_DIR).mkdir(exist_ok=True)
            gitignore = root / STATE_DIR / ".gitignore"
            if not gitignore.exists():
                gitignore.write_text("*\n", encoding="utf-8")
            if created:
                config.write_text(DEFAULT_TOML, encoding="utf-8")
            settings = load_settings(root, environ)
            folder = artifacts_folder(settings.artifacts_url, settings.root)
            if folder is not None:
                folder.mkdir(parents=True, exist_ok=True)
            workspace = cls.from_settings(settings)
            try:
                check = getattr(workspace.artifacts, "check", None)
                if check is not None:  # a bucket: missing or refused is said now, not later
                    check()
            except BaseException:
                workspace.close()
                raise
            return workspace, created
        except BaseException:
            # A failed init leaves nothing half-made that the next command would find as a workspace.
            if created:
                config.unlink(missing_ok=True)
            if new_state:
                shutil.rmtree(root / STATE_DIR, ignore_errors=True)
            if new_root:
                shutil.rmtree(root, ignore_errors=True)
            raise

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
