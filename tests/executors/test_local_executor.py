"""The local process pool: calls run in forkserver workers, and ``warm`` preloads their imports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mloop.executors import ExecutorSettings, open_executor

ROOT = Path(__file__).resolve().parents[2]
# A standard-library module nothing in mloop or its test suite imports.
PROBE = "xml.dom.minidom"


def loaded(name: str) -> tuple[int, bool]:
    return os.getpid(), name in sys.modules


def test_calls_run_in_other_processes() -> None:
    with open_executor(ExecutorSettings(max_workers=2)) as executor:
        assert executor.kind == "local" and executor.parallelism == 2
        pids = {executor.submit(loaded, "json").result(timeout=60)[0] for _ in range(4)}
    assert os.getpid() not in pids


def _in_a_fresh_process(warm: bool) -> bool:
    """The fork server is one per process and keeps the preload it started with, so each case
    needs its own command."""
    script = (
        "import sys\n"
        "from mloop.executors import ExecutorSettings, open_executor\n"
        "from tests.executors.test_local_executor import PROBE, loaded\n"
        "with open_executor(ExecutorSettings(max_workers=1)) as executor:\n"
        f"    if {warm}:\n"
        "        executor.warm([PROBE, 'no_such_module_anywhere'])\n"
        "    assert PROBE not in sys.modules  # the command itself never imported it\n"
        "    print(executor.submit(loaded, PROBE).result()[1])\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip() == "True"


def test_warm_workers_start_with_the_modules_imported() -> None:
    assert _in_a_fresh_process(warm=True)
    assert not _in_a_fresh_process(warm=False)


def test_a_script_read_from_stdin_can_use_the_pool() -> None:
    """``python - <<EOF``: its ``__main__`` names a file that does not exist (``<stdin>``), which
    multiprocessing's workers would try to run again and die on."""
    script = (
        "import os\n"
        "from mloop.executors import ExecutorSettings, open_executor\n"
        "from tests.executors.test_local_executor import loaded\n"
        "with open_executor(ExecutorSettings(max_workers=2)) as executor:\n"
        "    print(executor.submit(loaded, 'os').result(timeout=60)[0] != os.getpid())\n"
        "import __main__\n"
        "print(__main__.__file__)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    done = subprocess.run(
        [sys.executable, "-"], input=script, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "<stdin>"]  # the answer, and __main__ left as it was
