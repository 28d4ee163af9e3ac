"""What runs in an executor's worker: load the user's file, read inputs, call the step, store
its output.

The task carries everything the worker needs (the file, the workspace's store and artifact URLs),
never relying on the environment the worker process inherited: a forkserver is started once per
parent process, and its environment is whatever it was at that moment. While the step runs,
``MLOOP_WORKSPACE``/``MLOOP_STORE_URL``/``MLOOP_ARTIFACTS`` name the pipeline's workspace, so
``mloop.start_run()`` or ``mloop.load_dataset()`` inside a step land where the pipeline does.
Inputs travel as blob hashes, not values: a worker reads them from the store and writes its
output there, so a big frame never passes through the parent.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mloop.hashing import hash_file

_LOADED: dict[str, str] = {}  # module name -> hash of the file it was loaded from, in this worker


@dataclass(frozen=True)
class StepTask:
    file: str
    file_hash: str
    module: str  # where the step function lives (the file's module or a project module)
    qualname: str
    blobs: dict[str, dict[str, Any]]  # argument -> output record of an upstream step
    values: dict[str, Any]  # argument -> plain value (parameters, paths, dataset refs)
    root: str
    store_url: str
    artifacts_url: str
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StepResult:
    started_at: dt.datetime
    ended_at: dt.datetime
    output: dict[str, Any] | None = None
    error: str | None = None  # one line
    traceback: str | None = None  # the user's frames


def _ensure_loaded(task: StepTask) -> None:
    from mloop.pipelines.loader import load_file, module_name

    name = module_name(Path(task.file))
    if _LOADED.get(name) == task.file_hash and name in sys.modules:
        return
    load_file(Path(task.file))
    _LOADED[name] = task.file_hash


def _function(task: StepTask) -> Any:
    import importlib

    from mloop.pipelines.graph import Pipeline, Step

    target: Any = importlib.import_module(task.module)
    for part in task.qualname.split("."):
        target = getattr(target, part)
    return target.fn if isinstance(target, (Step, Pipeline)) else target


def _user_traceback(exc: BaseException) -> str:
    """The traceback without this module's frames: what the user's code did."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def run_step(task: StepTask) -> StepResult:
    started = dt.datetime.now(dt.UTC)
    saved = {key: os.environ.get(key) for key in task.env}
    os.environ.update(task.env)
    try:
        from mloop.artifacts.registry import open_artifact_store
        from mloop.pipelines.outputs import load_output, store_output

        artifacts = open_artifact_store(task.artifacts_url, root=Path(task.root))
        _ensure_loaded(task)
        fn = _function(task)
        arguments = dict(task.values)
        for key, record in task.blobs.items():
            arguments[key] = load_output(artifacts, record)
        value = fn(**arguments)
        output = store_output(artifacts, value)
        return StepResult(started, dt.datetime.now(dt.UTC), output=output)
    except Exception as exc:
        line = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
        return StepResult(
            started, dt.datetime.now(dt.UTC), error=line, traceback=_user_traceback(exc)
        )
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def file_hash(path: Path) -> str:
    return hash_file(path)
