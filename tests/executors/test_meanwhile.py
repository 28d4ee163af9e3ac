"""``Meanwhile``: the caller's work on a thread while an executor starts."""

from __future__ import annotations

import threading

import pytest

from mloop.errors import InvalidInput
from mloop.executors import ExecutorSettings, Meanwhile, open_executor


def test_the_work_runs_on_another_thread_once_started_by_the_executor() -> None:
    ran_on: list[str] = []
    work = Meanwhile(lambda: ran_on.append(threading.current_thread().name) or 42)
    with open_executor(ExecutorSettings(max_workers=1), meanwhile=work.start):
        assert work.result() == 42
    assert ran_on == ["mloop-meanwhile"]


def test_its_error_reaches_the_caller_as_raised() -> None:
    def refuse() -> None:
        raise InvalidInput("--sweep trial C=-1: C must be positive.")

    work = Meanwhile(refuse)
    work.start()
    work.settle()  # waits, never raises
    with pytest.raises(InvalidInput, match="C must be positive"):
        work.result()


def test_result_without_a_start_runs_the_work_and_settle_without_one_returns() -> None:
    unstarted = Meanwhile(lambda: 1)
    unstarted.settle()
    assert unstarted.result() == 1
