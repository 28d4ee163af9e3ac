"""The micro-batcher over a real model: batches form within their bounds, each request gets its
own rows back, one bad row fails alone, a full queue answers 429 at once, the loop never blocks."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from mloop.serving.batcher import Batcher, merge
from mloop.serving.codec import Table, parse_predict
from mloop.serving.errors import ApiError
from mloop.serving.inputs import Column
from mloop.serving.runner import ModelRunner
from mloop.serving.scores import Scores
from tests.serving.test_runner import Picky, records_body
from tests.serving.trained import Trained, trained

__all__ = ["trained"]


class Watched:
    """The real runner, noting each batch's size and thread; ``gate`` holds scoring back."""

    def __init__(self, runner: ModelRunner) -> None:
        self.runner = runner
        self.batches: list[int] = []
        self.threads: set[str] = set()
        self.gate = threading.Event()
        self.gate.set()

    def score(self, columns: Mapping[str, Column], n_rows: int) -> Scores:
        assert self.gate.wait(10)
        self.batches.append(n_rows)
        self.threads.add(threading.current_thread().name)
        return self.runner.score(columns, n_rows)


def tables(trained: Trained, sizes: list[int]) -> list[Table]:
    found, start = [], 0
    for size in sizes:
        found.append(parse_predict(records_body(trained.rows.iloc[start : start + size])))
        start += size
    return found


def test_concurrent_requests_share_batches_and_get_their_own_rows(trained: Trained) -> None:
    runner = ModelRunner.from_loaded(trained.classifier)
    watched = Watched(runner)
    sizes = [1, 3, 2, 1, 1, 4, 2, 1, 1, 1, 3, 1, 2, 1, 1, 1]
    requests = tables(trained, sizes)
    seen: list[int] = []

    async def main() -> list[Scores]:
        batcher = Batcher(
            watched, max_rows=64, max_wait_ms=30, name="churn@1", on_batch=seen.append
        )
        answers = await asyncio.gather(*(batcher.submit_table(t) for t in requests))
        assert batcher.depth == 0 and batcher.batches == len(watched.batches)
        await batcher.aclose()
        return answers

    answers = asyncio.run(main())
    assert len(watched.batches) < len(requests)  # gathered, not one call per request
    assert sum(watched.batches) == sum(sizes) and seen == watched.batches
    assert watched.threads == {"mloop-score-churn@1_0"}  # the model's own thread, not the loop's
    for table, answer in zip(requests, answers, strict=True):
        alone = runner.score_table(table)
        assert answer.predictions == alone.predictions
        np.testing.assert_allclose(answer.probabilities, alone.probabilities, rtol=1e-12)  # type: ignore[arg-type]


def test_batches_never_exceed_max_rows_and_requests_are_never_split(trained: Trained) -> None:
    watched = Watched(ModelRunner.from_loaded(trained.classifier))
    sizes = [4] * 10 + [20]
    requests = tables(trained, sizes)

    async def main() -> list[Scores]:
        batcher = Batcher(watched, max_rows=8, max_wait_ms=20)
        watched.gate.clear()  # let everything queue behind the first batch
        futures = [batcher.try_submit(t.columns, t.n_rows) for t in requests]
        await asyncio.sleep(0.05)
        watched.gate.set()
        answers = await asyncio.gather(*futures)
        await batcher.aclose()
        return answers

    answers = asyncio.run(main())
    assert [len(a) for a in answers] == sizes
    assert all(size <= 8 for size in watched.batches[:-1]) and watched.batches[-1] == 20
    assert sorted(watched.batches) == sorted([8] * 5 + [20])


def test_a_lone_caller_never_waits_and_concurrent_callers_wait_at_most_the_bound(
    trained: Trained,
) -> None:
    runner = ModelRunner.from_loaded(trained.classifier)
    table = tables(trained, [1])[0]
    runner.score_table(table)
    started = time.perf_counter()
    runner.score_table(table)
    scoring = time.perf_counter() - started

    async def latencies(max_wait_ms: float) -> tuple[float, float, float]:
        batcher = Batcher(runner, max_rows=64, max_wait_ms=max_wait_ms)
        await batcher.submit(table.columns, 1)  # the thread and worker exist from here on

        async def timed() -> float:
            begun = time.perf_counter()
            await batcher.submit(table.columns, 1)
            return time.perf_counter() - begun

        lone = await timed()  # one caller: scored at once, no wait for company
        await asyncio.gather(*(batcher.submit(table.columns, 1) for _ in range(3)))  # shared
        after_shared = await timed()  # traffic was concurrent: waits for others, up to the bound
        lone_again = await timed()  # that batch held one request: back to no wait
        await batcher.aclose()
        return lone, after_shared, lone_again

    lone, after_shared, lone_again = asyncio.run(latencies(60))
    assert lone < 0.05 + scoring * 3
    assert 0.055 <= after_shared < 0.06 + scoring * 3 + 0.15
    assert lone_again < 0.05 + scoring * 3
    assert asyncio.run(latencies(0))[1] < 0.05 + scoring * 3  # batching off: never a wait


@pytest.mark.parametrize("options", [{"max_wait_ms": 0}, {"max_rows": 1}])
def test_batching_off_scores_each_request_alone(trained: Trained, options: dict[str, Any]) -> None:
    watched = Watched(ModelRunner.from_loaded(trained.classifier))
    requests = tables(trained, [2, 1, 3])

    async def main() -> None:
        batcher = Batcher(watched, **options)
        await asyncio.gather(*(batcher.submit(t.columns, t.n_rows) for t in requests))
        await batcher.aclose()

    asyncio.run(main())
    assert watched.batches == [2, 1, 3]


def test_a_failing_row_fails_alone_inside_a_shared_batch(trained: Trained) -> None:
    runner = ModelRunner(
        trained.classifier.version, Picky(trained.classifier.model), runtime="python"
    )
    good = tables(trained, [2, 2])
    bad_rows = trained.rows.iloc[10:13].copy()
    bad_rows.loc[bad_rows.index[1], "tenure_months"] = 999
    bad = parse_predict(records_body(bad_rows))

    async def main() -> list[Scores]:
        batcher = Batcher(runner, max_rows=64, max_wait_ms=30)
        answers = await asyncio.gather(
            *(batcher.submit(t.columns, t.n_rows) for t in (good[0], bad, good[1]))
        )
        assert batcher.batches == 1
        await batcher.aclose()
        return answers

    first, broken, last = asyncio.run(main())
    assert first.errors == [None, None] and last.errors == [None, None]
    assert broken.errors[0] is None and broken.errors[2] is None
    assert broken.errors[1] == "ValueError: tenure_months above 500 is not a customer"
    assert broken.predictions[1] is None and broken.predictions[0] is not None


def test_a_full_queue_is_refused_at_once_with_retry_after(trained: Trained) -> None:
    watched = Watched(ModelRunner.from_loaded(trained.classifier))
    table = tables(trained, [1])[0]

    async def main() -> None:
        batcher = Batcher(watched, max_rows=64, max_wait_ms=1, capacity=3, name="churn")
        watched.gate.clear()
        futures = [batcher.try_submit(table.columns, 1) for _ in range(3)]
        assert batcher.depth == 3 and batcher.full
        started = time.perf_counter()
        with pytest.raises(ApiError) as caught:
            batcher.try_submit(table.columns, 1)
        assert time.perf_counter() - started < 0.01  # fails fast, never waits
        error = caught.value
        assert (error.status, error.code, error.headers) == (
            429,
            "overloaded",
            {"Retry-After": "1"},
        )
        assert error.detail == {"in_flight": 3, "limit": 3}
        ticks = 0
        for _ in range(5):  # the loop keeps running while the model's thread is busy
            await asyncio.sleep(0.01)
            ticks += 1
        assert ticks == 5
        watched.gate.set()
        assert all(len(a) == 1 for a in await asyncio.gather(*futures))
        assert batcher.depth == 0
        await batcher.submit(table.columns, 1)  # room again
        await batcher.aclose()

    asyncio.run(main())


def test_a_cancelled_request_is_not_scored_and_frees_its_slot(trained: Trained) -> None:
    watched = Watched(ModelRunner.from_loaded(trained.classifier))
    one, two = tables(trained, [1, 2])

    async def main() -> None:
        batcher = Batcher(watched, max_rows=64, max_wait_ms=50, capacity=2)
        waiting = batcher.try_submit(one.columns, 1)
        waiting.cancel()
        await asyncio.sleep(0)  # done callbacks run on the next turn of the loop
        assert batcher.depth == 0
        watched.gate.clear()  # the model is busy with the next request
        busy = batcher.try_submit(two.columns, 2)
        await asyncio.sleep(0.02)
        with pytest.raises(asyncio.TimeoutError):  # queued behind it: a server timeout
            await asyncio.wait_for(batcher.submit(one.columns, 1), 0.01)
        watched.gate.set()
        assert len(await busy) == 2
        await batcher.aclose()

    asyncio.run(main())
    assert watched.batches == [2]


def test_close_drains_then_refuses(trained: Trained) -> None:
    runner = ModelRunner.from_loaded(trained.classifier)
    table = tables(trained, [3])[0]

    async def main() -> None:
        batcher = Batcher(runner, max_rows=64, max_wait_ms=20)
        pending = batcher.try_submit(table.columns, 3)
        await batcher.aclose()  # drains first: the accepted request is answered
        assert pending.done() and len(pending.result()) == 3
        with pytest.raises(ApiError) as caught:
            batcher.try_submit(table.columns, 3)
        assert (caught.value.status, caught.value.code) == (503, "not_ready")

    asyncio.run(main())


def test_run_uses_the_models_thread(trained: Trained) -> None:
    runner = ModelRunner.from_loaded(trained.classifier)

    async def main() -> str:
        batcher = Batcher(runner, name="warm")
        warmed = await batcher.run(runner.warm)
        assert warmed is not None and warmed.failed == 0
        name = await batcher.run(lambda: threading.current_thread().name)
        await batcher.aclose()
        return name

    assert asyncio.run(main()) == "mloop-score-warm_0"


def test_merge_fills_absent_columns_and_keeps_arrays() -> None:
    merged, rows = merge(
        [
            ({"a": np.array([1.0, 2.0]), "b": ["x", "y"]}, 2),
            ({"a": np.array([3.0])}, 1),
            ({"a": [4], "c": [True]}, 1),
        ]
    )
    assert rows == 4
    assert merged["a"] == [1.0, 2.0, 3.0, 4]
    assert merged["b"] == ["x", "y", None, None] and merged["c"] == [None, None, None, True]
    arrays, _ = merge([({"a": np.array([1.0])}, 1), ({"a": np.array([2.0])}, 1)])
    assert isinstance(arrays["a"], np.ndarray) and arrays["a"].tolist() == [1.0, 2.0]
