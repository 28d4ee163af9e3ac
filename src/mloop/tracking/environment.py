"""What a run ran on: Python, platform, host, installed packages, the entry script, the git commit.

Captured once when a run starts and stored as the run's ``environment`` document::

    {"python": "3.11.7", "implementation": "CPython", "executable": "/…/python",
     "platform": "Linux-6.1-x86_64-with-glibc2.36", "host": "ada-laptop",
     "script": "/repo/train.py", "cwd": "/repo",
     "git": {"commit": "3f2a…", "branch": "main", "dirty": false, "root": "/repo"},
     "git_commit": "3f2a…", "git_dirty": false,
     "packages": {"numpy": "2.4.6", …}}

``start_run`` writes the git fields a moment after the run starts (two subprocesses; see
``tracking.deferred``). Git runs as a subprocess with a short timeout and ``GIT_OPTIONAL_LOCKS=0`` (so ``git status`` never
takes the index lock from under a user's own git command); without git or outside a repository the
git fields are None. "dirty" means tracked files differ from the commit; untracked files do not
count, as in MLflow. The command line is not stored: arguments can hold secrets.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from mloop.config import readable

GIT_TIMEOUT_S = 3.0


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


NO_GIT: dict[str, Any] = {"commit": None, "branch": None, "dirty": None, "root": None}


def _repository_root(cwd: Path) -> Path | None:
    """The nearest folder holding ``.git`` (a folder, or a file in worktrees and submodules)."""
    here = cwd.resolve()
    return next((p for p in (here, *here.parents) if (p / ".git").exists()), None)


def git_state(cwd: Path) -> dict[str, Any]:
    """Commit, branch, dirty flag and root of the repository holding ``cwd`` (Nones outside one).

    One ``git status --porcelain=v2 --branch`` answers commit, branch and dirty flag (a process
    start is the cost that matters); it fails outside a repository, and a repository without
    commits says ``(initial)``.
    """
    root = _repository_root(cwd)
    if root is None:  # outside any repository: no process to start
        return dict(NO_GIT)
    status = _git(["status", "--porcelain=v2", "--branch", "--untracked-files=no"], cwd)
    if status is None:
        return dict(NO_GIT)
    headers: dict[str, str] = {}
    changed = False
    for line in status.splitlines():
        if line.startswith("# "):
            key, _, value = line[2:].partition(" ")
            headers[key] = value
        elif line:
            changed = True  # a changed tracked file (untracked ones are not listed)
    commit = headers.get("branch.oid")
    if not commit or commit == "(initial)":
        return dict(NO_GIT)
    branch = headers.get("branch.head")
    return {
        "commit": commit,
        "branch": None if branch in (None, "", "(detached)") else branch,
        "dirty": changed,
        "root": readable(str(root)),
    }


def _canonical(name: str) -> str:
    """PEP 503 spelling (``Typing_Extensions`` -> ``typing-extensions``): one key per project."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _header_fields(path: Path) -> tuple[str | None, str | None]:
    """``Name`` and ``Version`` from a METADATA/PKG-INFO file's header block, nothing more."""
    name = version = None
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if not line.strip():
                    break  # the body (long description) follows the first blank line
                key, _, value = line.partition(":")
                if key == "Name":
                    name = value.strip()
                elif key == "Version":
                    version = value.strip()
                if name and version:
                    break
    except OSError:
        pass
    return name, version


def _distribution(folder: os.DirEntry[str]) -> tuple[str, str] | None:
    """(name, version) of one ``*.dist-info`` / ``*.egg-info`` entry, from its name if it says."""
    stem, _, suffix = folder.name.rpartition(".")
    if suffix not in ("dist-info", "egg-info"):
        return None
    name, _, rest = stem.partition("-")
    version = rest.split("-", 1)[0]  # egg-info adds "-py3.11"
    if name and version:
        return _canonical(name), version
    if not folder.is_dir():  # an egg-info file is the PKG-INFO itself
        header = Path(folder.path)
    else:
        header = Path(folder.path, "METADATA" if suffix == "dist-info" else "PKG-INFO")
    named, versioned = _header_fields(header)
    return None if not named or not versioned else (_canonical(named), versioned)


def _scan(folders: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            dist = _distribution(entry)
            if dist is not None:
                found.setdefault(*dist)  # the first on sys.path is the one Python imports
    return dict(sorted(found.items()))


def cache_dir() -> Path:
    """mloop's per-user cache: ``$XDG_CACHE_HOME/mloop``, else ``~/.cache/mloop``."""
    base = os.environ.get("XDG_CACHE_HOME") or ""
    return (Path(base) if os.path.isabs(base) else Path.home() / ".cache") / "mloop"


def _libc() -> str:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (AttributeError, ValueError, OSError):  # not glibc, or no confstr (Windows)
        return ""


def _site_state(folders: list[str]) -> str:
    """A key that changes whenever a distribution is installed, removed or upgraded, or the OS.

    Each of those adds, renames or deletes a ``*-info`` entry, which changes its folder's mtime;
    a kernel or libc upgrade changes the platform string, so the uname and libc are in it too.
    """
    stamps = [platform.system(), platform.release(), platform.version(), _libc()]
    for folder in folders:
        try:
            stamps.append(f"{folder}:{os.stat(folder).st_mtime_ns}")
        except OSError:
            stamps.append(f"{folder}:-")
    # sys.path holds undecodable bytes as surrogates under a C locale (a folder named "café")
    key = "\n".join([sys.executable, *stamps])
    return hashlib.blake2b(key.encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()


def _store_cache(path: Path, packages: dict[str, Any]) -> None:
    """Write atomically (a concurrent reader sees the old file or the new one); best effort."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".environment-", suffix=".part")
    except OSError:  # a read-only home: the scan is cheap anyway
        return
    try:
        with os.fdopen(handle, "w") as out:
            json.dump(packages, out)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


@functools.cache
def installed() -> dict[str, Any]:
    """``{"packages": {name: version}, "platform": platform.platform()}`` of this interpreter.

    Names and versions come from the ``*.dist-info`` folder names (a metadata header only where
    the name does not say), never from parsing whole METADATA files: that took 0.2-0.9 s with
    ~150 packages, on every run start. ``platform.platform()`` probes the libc by reading the
    interpreter binary (15 ms). Both are cached per interpreter under ``cache_dir()``, keyed by
    the site folders' mtimes and the OS, and once per process.
    """
    folders = [p for p in sys.path if p and os.path.isdir(p)]
    cached = cache_dir() / f"environment-{_site_state(folders)}.json"
    try:
        found: dict[str, Any] = json.loads(cached.read_text())
        if isinstance(found, dict) and {"packages", "platform"} <= found.keys():
            return found
    except (OSError, ValueError):
        pass
    found = {"packages": _scan(folders), "platform": platform.platform()}
    _store_cache(cached, found)
    return found


def _entry_script() -> Path | None:
    main = sys.modules.get("__main__")
    candidate = getattr(main, "__file__", None) or (sys.argv[0] if sys.argv else None)
    if not candidate or candidate in ("-c", "-m"):
        return None
    path = Path(candidate).resolve()
    return path if path.is_file() else None


def _user_code(script: Path) -> bool:
    installed = {Path(p).resolve() for p in (sys.prefix, sys.exec_prefix, sys.base_prefix)}
    return not any(script.is_relative_to(prefix) for prefix in installed)


def _process_start(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux), so a reused pid is not mistaken
    for the process that started a run; ``None`` where /proc does not say."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat[stat.rindex(")") + 2 :].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _read(path: str, *, link: bool = False) -> str | None:
    try:
        return os.readlink(path) if link else Path(path).read_text().strip()
    except OSError:
        return None


@functools.cache
def _where() -> dict[str, str | None]:
    """This boot of this machine and this pid namespace: a pid means one process only within
    both (two containers sharing a hostname and a store have their own pid 1)."""
    return {
        "boot": _read("/proc/sys/kernel/random/boot_id"),
        "pidns": _read("/proc/self/ns/pid", link=True),
    }


def process_identity() -> dict[str, Any]:
    return {"pid": os.getpid(), "start": _process_start(os.getpid()), **_where()}


def process_gone(environment: dict[str, Any]) -> bool:
    """True when the process that started a run on this host no longer exists.

    A run killed with SIGKILL (or by the out-of-memory killer) cannot end itself and stays RUNNING;
    this tells a listing that nobody is writing to it any more. Runs from other hosts are unknown.
    """
    process = environment.get("process") or {}
    pid = process.get("pid")
    if not isinstance(pid, int) or environment.get("host") != socket.gethostname():
        return False
    here = _where()
    if any(process.get(key) != here[key] for key in here):  # another machine, boot or container
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, owned by someone else
        pass
    started = process.get("start")
    return started is not None and _process_start(pid) not in (None, started)


def slow_fields(cwd: Path) -> dict[str, Any]:
    """The fields that take milliseconds: git's subprocesses.

    Git is asked about the entry script's folder first (``python ~/repo/train.py`` run from
    elsewhere still records the repo's commit), then about ``cwd``. An installed entry point (the
    ``mloop`` command itself, ``pytest``) is not the user's code: its folder's repository, if any,
    is the tool's, so for those only ``cwd`` counts.
    """
    script = _entry_script()
    git = git_state(script.parent) if script is not None and _user_code(script) else None
    asked_already = script is not None and script.parent == cwd.resolve()
    if git is None or (git["commit"] is None and not asked_already):
        git = git_state(cwd)
    return {
        "git": git,
        "git_commit": git["commit"],
        "git_dirty": git["dirty"],
    }


def quick_fields(cwd: Path) -> dict[str, Any]:
    """Everything else, in well under a millisecond once the package list is cached."""
    script = _entry_script()
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": readable(sys.executable),
        "platform": installed()["platform"],
        "host": socket.gethostname(),
        "process": process_identity(),
        "script": None if script is None else readable(str(script)),
        "cwd": readable(str(cwd)),
        "packages": dict(installed()["packages"]),
    }


def capture_environment(cwd: Path) -> dict[str, Any]:
    """The whole environment document of a run started from ``cwd`` (see the module docstring).

    ``start_run`` records ``quick_fields`` at once and ``slow_fields`` from a thread
    (``tracking.deferred``), so they cost a training script nothing.
    """
    return {**quick_fields(cwd), **slow_fields(cwd)}
