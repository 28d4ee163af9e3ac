"""Workspace settings: ``mloop.toml``, then ``MLOOP_*`` environment overrides, into one typed object.

Read once at the edge and passed down; nothing below re-reads the environment.

``mloop.toml``::

    [store]
    url = "sqlite:///.mloop/mloop.db"      # relative SQLite paths are taken from the workspace root
    [artifacts]
    url = ".mloop/artifacts"                # a folder, file:///abs/path, memory://NAME (tests)
    [user]
    name = "ada"                            # who approves, promotes, deploys (else $USER)
    [gates.default]                         # promotion gates, see mloop.registry.gates
    ...

Overrides: ``MLOOP_STORE_URL``, ``MLOOP_ARTIFACTS`` (a folder or URL), ``MLOOP_USER``; ``MLOOP_WORKSPACE`` picks the folder.
"""

from __future__ import annotations

import getpass
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from mloop.errors import InvalidInput, NotFound

CONFIG_FILE = "mloop.toml"
STATE_DIR = ".mloop"

DEFAULT_TOML = """\
# mloop workspace. Environment variables override: MLOOP_STORE_URL, MLOOP_ARTIFACTS, MLOOP_USER.
[store]
url = "sqlite:///.mloop/mloop.db"

[artifacts]
# A folder (relative to this file's folder), file:///absolute/path, or memory://NAME for tests.
url = ".mloop/artifacts"

# Promotion gates, checked by `mloop models promote NAME N --to ALIAS [--gate NAME]`;
# `default` applies when --gate is not given. Checks: thresholds (one list, or per task),
# no_regression (re-scored on the same holdout; with a paired bootstrap, an interval that cannot
# tell the models apart is noise and on_noise = "pass"|"block" decides), min_holdout_rows,
# latency_p99_ms, segment_parity, data_validation, approval.
[gates.default]
no_regression = { metric = "auto", tolerance = 0.005, bootstrap = 1000, confidence = 0.90, on_noise = "pass" }
min_holdout_rows = 30
data_validation = true

[gates.production]
thresholds = { classification = ["roc_auc >= 0.70"], regression = ["r2 >= 0.30"] }
no_regression = { metric = "auto", tolerance = 0.005, bootstrap = 300, confidence = 0.90, on_noise = "block" }
min_holdout_rows = 30
latency_p99_ms = 100
data_validation = true
approval = true
"""


@dataclass(frozen=True)
class Settings:
    root: Path
    store_url: str
    # Where blobs live, as a URL (``mloop.artifacts.registry`` picks the back end); a local folder
    # is written as its absolute path.
    artifacts_url: str
    user: str
    gates: Mapping[str, Any] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def artifacts_path(self) -> Path:
        """The local artifact folder; ``InvalidInput`` when the artifacts live elsewhere."""
        folder = artifacts_folder(self.artifacts_url, self.root)
        if folder is None:
            raise InvalidInput(
                f"The artifacts are at {self.artifacts_url}, not in a local folder; "
                "this needs a local artifact store (a folder path in [artifacts] url)."
            )
        return folder


def scheme_of(url: str) -> str:
    """``file`` for a plain folder path, else the URL's scheme."""
    return urlsplit(url).scheme if "://" in url else "file"


def artifacts_folder(url: str, root: Path) -> Path | None:
    """The folder a local artifact URL names (relative paths from ``root``); None for other schemes."""
    if scheme_of(url) != "file":
        return None
    if "://" in url:
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise InvalidInput(
                f"Artifact URL {url!r} names another host ({parts.netloc}); "
                "a file:// URL is file:///absolute/path."
            )
        url = unquote(parts.path)
    path = Path(url).expanduser()
    return (path if path.is_absolute() else root / path).resolve()


def readable(text: str) -> str:
    """``text`` from the OS (an environment variable, a file name) as text a database can hold.

    Under a C locale without UTF-8 mode Python decodes non-ASCII bytes to lone surrogates, which
    no UTF-8 store accepts; they are decoded as the UTF-8 they almost always are instead.
    """
    if text.isascii() or not any("\udc80" <= char <= "\udcff" for char in text):
        return text
    return os.fsencode(text).decode("utf-8", "replace")


def _default_user(environ: Mapping[str, str]) -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers: the uid still says who it was
        return environ.get("USER") or f"uid-{os.getuid()}"


def _resolve_sqlite_url(url: str, root: Path) -> str:
    """Anchor a relative SQLite path at the workspace root.

    The path becomes part of a URL, where ``?`` starts the query and ``%XX`` is decoded: a folder
    named ``a?b`` or ``%41`` would otherwise put the database in another folder (``a``, ``A``),
    shared with whichever workspace lives there. Both are escaped; a query given in the file stays.
    """
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith("sqlite:////") and url != "sqlite:///:memory:":
        relative, separator, query = url[len(prefix) :].partition("?")
        path = str((root / relative).resolve()).replace("%", "%25").replace("?", "%3F")
        return prefix + path + separator + query
    return url


def _text(raw: Mapping[str, Any], table: str, key: str, path: Path, default: str) -> str:
    section = raw.get(table, {})
    if not isinstance(section, Mapping):
        raise InvalidInput(f"[{table}] in {path} must be a table; see the README.")
    value = section.get(key, default)
    if not isinstance(value, str):
        raise InvalidInput(f"{table}.{key} in {path} must be a string in quotes, not {value!r}.")
    return value


def _artifacts_setting(raw: Mapping[str, Any], config_path: Path) -> str:
    """``[artifacts] url``, or ``path`` as workspaces written before URLs had it; not both."""
    url = _text(raw, "artifacts", "url", config_path, "")
    path = _text(raw, "artifacts", "path", config_path, "")
    if url and path:
        raise InvalidInput(
            f"[artifacts] in {config_path} sets both url and path; keep url (path is its old name)."
        )
    return url or path or ".mloop/artifacts"


def load_settings(root: Path, environ: Mapping[str, str] = os.environ) -> Settings:
    """Read ``root/mloop.toml`` and apply ``MLOOP_*`` overrides.

    Raises ``InvalidInput`` when the file is not valid TOML.
    """
    root = root.resolve()
    config_path = root / CONFIG_FILE
    raw: dict[str, Any] = {}
    if config_path.exists():
        try:
            raw = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InvalidInput(
                f"{config_path} is not valid TOML ({exc}); fix it, or move it aside and run `mloop init` to write the default one."
            ) from exc
    store_url = environ.get("MLOOP_STORE_URL") or _text(
        raw, "store", "url", config_path, "sqlite:///.mloop/mloop.db"
    )
    artifacts = environ.get("MLOOP_ARTIFACTS") or _artifacts_setting(raw, config_path)
    folder = artifacts_folder(artifacts, root)
    user = (
        environ.get("MLOOP_USER")
        or _text(raw, "user", "name", config_path, "")
        or _default_user(environ)
    )
    gates = raw.get("gates", {})
    if not isinstance(gates, dict):
        raise InvalidInput(
            f"[gates] in {config_path} must be a table of named gates; see the README."
        )
    return Settings(
        root=root,
        store_url=_resolve_sqlite_url(store_url, root),
        artifacts_url=artifacts if folder is None else str(folder),
        user=readable(str(user)),
        gates=gates,
        raw=raw,
    )


def find_workspace(
    explicit: str | os.PathLike[str] | None = None,
    *,
    start: Path | None = None,
    environ: Mapping[str, str] = os.environ,
) -> Path:
    """Find the workspace root: ``explicit``, else ``MLOOP_WORKSPACE``, else walk up like git.

    Raises ``NotFound`` when there is none.
    """
    chosen = explicit or environ.get("MLOOP_WORKSPACE")
    if chosen:
        path = Path(chosen).expanduser().resolve()
        if path.is_file():
            raise NotFound(
                f"{path} is a file; --workspace (or MLOOP_WORKSPACE) names the folder holding {CONFIG_FILE}."
            )
        if not (path / CONFIG_FILE).exists():
            raise NotFound(
                f"{path} is not an mloop workspace (no {CONFIG_FILE}); run `mloop init {chosen}` first."
            )
        return path
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).exists():
            return folder
    raise NotFound(
        f"No mloop workspace in {here} or any parent folder; run `mloop init` here or pass --workspace."
    )
