"""The Ray executor against a real private Ray (num_cpus=2), started once for this module."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, wait
from pathlib import Path

import pytest

from mloop.errors import InvalidInput
from mloop.executors import Executor, ExecutorSettings, open_executor
from tests.executors.sockets import descendants, listeners, processes_mentioning

pytest.importorskip("ray", reason="the Ray tests need mloop[ray]")

SRC = Path(__file__).resolve().parents[2] / "src"


def nap(seconds: float) -> tuple[int, float, float]:
    started = time.time()
    time.sleep(seconds)
    return os.getpid(), started, time.time()


def square(x: int) -> int:
    return x * x


def fail(message: str) -> None:
    raise ValueError(message)


@pytest.fixture(scope="module")
def executor() -> Iterator[Executor]:
    with open_executor(ExecutorSettings(kind="ray", max_workers=2)) as ray_executor:
        yield ray_executor


def test_submit_gives_standard_futures_with_results_and_errors(executor: Executor) -> None:
    futures = [executor.submit(square, n) for n in range(6)]
    assert all(isinstance(f, Future) for f in futures)
    assert [f.result(timeout=60) for f in futures] == [0, 1, 4, 9, 16, 25]
    failed = executor.submit(fail, "bad trial")
    with pytest.raises(Exception, match="bad trial"):
        failed.result(timeout=60)


def test_parallelism_is_the_clusters_cpus_and_two_calls_run_at_once(executor: Executor) -> None:
    assert executor.kind == "ray"
    assert executor.parallelism == 2
    futures = [executor.submit(nap, 1.0) for _ in range(2)]
    wait(futures, timeout=60)
    (first_pid, first_start, first_end), (second_pid, second_start, second_end) = (
        f.result() for f in futures
    )
    assert first_pid != second_pid and os.getpid() not in (first_pid, second_pid)
    # overlapping naps ran at once, however long a cold worker took to start
    assert max(first_start, second_start) < min(first_end, second_end)


def test_warming_imports_in_the_workers_and_a_missing_module_breaks_nothing(
    executor: Executor,
) -> None:
    import ray

    executor.warm(["xml.dom.minidom", "no_such_module_anywhere"])
    warming = executor._warming  # type: ignore[attr-defined]
    assert len(warming) == executor.parallelism
    assert ray.get(warming, timeout=60) == [None] * executor.parallelism
    assert executor.submit(square, 7).result(timeout=60) == 49


def test_a_private_ray_listens_on_loopback_only(executor: Executor) -> None:
    """ShadowRay (CVE-2023-48022): whoever reaches a Ray port can run code; none may be open
    beyond this machine, and no dashboard or job API listens at all."""
    executor.submit(square, 2).result(timeout=60)
    found = listeners([os.getpid(), *descendants(os.getpid())])
    names = {listener.name for listener in found}
    assert {"gcs_server", "raylet"} <= names, found  # the check sees Ray's servers
    exposed = [listener for listener in found if not listener.loopback]
    assert exposed == [], exposed
    assert not [listener for listener in found if listener.port in (8265, 52365)], found


def niceness() -> int:
    return os.nice(0)


def test_a_private_rays_workers_run_at_the_commands_priority(executor: Executor) -> None:
    """Ray nices its workers to 15; a command's trials run at its own priority, as on the pool."""
    assert executor.submit(niceness).result(timeout=60) == os.nice(0)


def test_a_private_ray_starts_no_dashboard_head_and_no_monitors(executor: Executor) -> None:
    """What one command's Ray has no use for is not started: each was one more Python process
    importing Ray on the command's cores, and the dashboard head held ``ray.init`` ~0.9 s."""
    executor.submit(square, 2).result(timeout=60)
    commands = []
    for pid in descendants(os.getpid()):
        try:
            commands.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
    assert any("raylet" in command for command in commands), commands  # the check sees Ray
    for script in ("dashboard/dashboard.py", "autoscaler/_private/monitor.py", "log_monitor.py"):
        assert not [command for command in commands if script in command], (script, commands)


def test_a_ray_in_this_process_already_is_refused() -> None:
    import ray

    if not ray.is_initialized():
        pytest.skip("needs the module's Ray running")
    with (
        pytest.raises(InvalidInput, match="already initialised"),
        open_executor(ExecutorSettings(kind="ray")),
    ):
        pass


def ray_processes_of(driver_pid: int) -> list[tuple[int, str]]:
    """Ray names a session after its driver's pid; its GCS, raylet and workers carry the name."""
    return [
        found
        for found in processes_mentioning(f"_{driver_pid}/")
        if re.search(rf"session_[\d_-]+_{driver_pid}/", found[1])
    ]


def test_the_command_leaves_no_ray_process_behind() -> None:
    script = (
        "from mloop.executors import ExecutorSettings, open_executor\n"
        "with open_executor(ExecutorSettings(kind='ray', max_workers=1)) as ex:\n"
        "    assert ex.submit(abs, -3).result() == 3\n"
        "    print('running', flush=True)\n"
        "    input()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    with subprocess.Popen(
        [sys.executable, "-c", script],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as command:
        assert command.stdout is not None and command.stdin is not None
        assert command.stdout.readline().strip() == "running"
        during = ray_processes_of(command.pid)
        names = " ".join(cmd for _, cmd in during)
        assert "gcs_server" in names and "raylet" in names  # the check sees them while it runs
        command.stdin.write("\n")
        command.stdin.flush()
        assert command.wait(timeout=60) == 0, command.stderr.read() if command.stderr else ""
    deadline = time.monotonic() + 10
    while (left := ray_processes_of(command.pid)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left == [], left


def test_a_private_rays_workers_import_the_preload_before_their_first_call() -> None:
    script = (
        "import sys\n"
        "from mloop.executors import ExecutorSettings, open_executor\n"
        "def imported(names):\n"
        "    import sys\n"
        "    return [name in sys.modules for name in names]\n"
        "settings = ExecutorSettings(kind='ray', max_workers=1)\n"
        "with open_executor(settings, preload=['wave', 'no_such_module_anywhere']) as ex:\n"
        "    print(ex.submit(imported, ['wave', 'tabnanny']).result(timeout=60))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[True, False]"  # the preload, and a module nobody imported
