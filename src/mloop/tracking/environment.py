"""What a run ran on: Python, platform, host, installed packages, the entry script, the git commit.

Captured once when a run starts and stored as the run's ``environment`` document::

    {"python": "3.11.7", "implementation": "CPython", "executable": "/…/python",
     "platform": "Linux-6.1-x86_64-with-glibc2.36", "host": "ada-laptop",
     "script": "/repo/train.py", "cwd": "/repo",
     "git": {"commit": "3f2a…", "branch": "main", "dirty": false, "root": "/repo"},
     "git_commit": "3f2a…", "git_dirty": false,
     "packages": {"numpy": "2.4.6", …}}

Git runs as a subprocess with a short timeout and ``GIT_OPTIONAL_LOCKS=0`` (so ``git status`` never
takes the index lock from under a user's own git command); without git or outside a repository the
git fields are None. "dirty" means tracked files differ from the commit; untracked files do not
count, as in MLflow. The command line is not stored: arguments can hold secrets.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
import socket
import subprocess
import sys
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


def git_state(cwd: Path) -> dict[str, Any]:
    """Commit, branch, dirty flag and root of the repository holding ``cwd`` (Nones outside one)."""
    # One call for three answers; it fails outside a repository and in one without commits.
    described = _git(["rev-parse", "--show-toplevel", "HEAD", "--abbrev-ref", "HEAD"], cwd)
    lines = described.splitlines() if described else []
    if len(lines) != 3:
        return {"commit": None, "branch": None, "dirty": None, "root": None}
    root, commit, branch = lines
    status = _git(["status", "--porcelain", "--untracked-files=no"], cwd)
    return {
        "commit": commit,
        "branch": None if branch in ("", "HEAD") else branch,
        "dirty": None if status is None else bool(status),
        "root": readable(root),
    }


@functools.cache
def installed_packages() -> dict[str, str]:
    """``{name: version}`` of every installed distribution (read once per process)."""
    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found[name.lower()] = dist.version
    return dict(sorted(found.items()))


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


def capture_environment(cwd: Path) -> dict[str, Any]:
    """The environment document of a run started from ``cwd`` (see the module docstring).

    Git is asked about the entry script's folder first (``python ~/repo/train.py`` run from
    elsewhere still records the repo's commit), then about ``cwd``. An installed entry point (the
    ``mloop`` command itself, ``pytest``) is not the user's code: its folder's repository, if any,
    is the tool's, so for those only ``cwd`` counts.
    """
    script = _entry_script()
    git = git_state(script.parent) if script is not None and _user_code(script) else None
    if git is None or git["commit"] is None:
        git = git_state(cwd)
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": readable(sys.executable),
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "process": process_identity(),
        "script": None if script is None else readable(str(script)),
        "cwd": readable(str(cwd)),
        "git": git,
        "git_commit": git["commit"],
        "git_dirty": git["dirty"],
        "packages": dict(installed_packages()),
    }
