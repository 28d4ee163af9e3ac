"""The canary split of a real server, counted over many requests: without a routing key it takes
its weight of the traffic (within 3 points over 2,000 requests); with ``X-Routing-Key`` each key
always lands on one side, both sides get keys, and raising the weight only moves keys to the canary.

The primary is churn@1 and the canary churn@2, so each answer's ``version`` says which side
answered. Weight 10: over 2,000 requests the share's standard deviation is 0.67 points, so the
3-point bound is 4.5 deviations (a false alarm about once in 10^5 runs), yet a split that ignored
the weight, inverted it or routed by anything else would miss it by far.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mloop.endpoints.service import deploy
from mloop.workspace import Workspace
from tests.serving.reliability import workspace_copy
from tests.serving.server_harness import Server, churn_rows, running

ROWS = churn_rows(64, seed=13)
REQUESTS = 2000
WEIGHT = 10
KEYS = 300


def _deploy(root: Path, weight: int) -> int:
    with Workspace.open(root, environ={"MLOOP_USER": "tester"}) as ws:
        revision = deploy(
            ws.store, "split", "churn@1", canary="churn@2", weight=weight, actor="tester"
        )
    return revision.number


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = workspace_copy(tmp_path_factory, "canary")
    _deploy(root, WEIGHT)
    with running(root) as started:
        yield started


def _versions(server: Server, n: int, key_of: object = None) -> list[tuple[str | None, int, int]]:
    """``n`` one-row predictions to ``split``, 16 at a time (so they share micro-batches): (routing
    key, version, revision) of each."""

    def one(i: int) -> tuple[str | None, int, int]:
        key = None if key_of is None else f"customer-{i % KEYS}"
        headers = {} if key is None else {"X-Routing-Key": key}
        answer = http.post(
            "/v1/endpoints/split/predict",
            json={"instances": [ROWS[i % len(ROWS)]]},
            headers=headers,
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        return key, body["version"], body["revision"]

    limits = httpx.Limits(max_connections=16)
    with (
        httpx.Client(base_url=server.url, timeout=30, limits=limits) as http,
        concurrent.futures.ThreadPoolExecutor(16) as pool,
    ):
        return list(pool.map(one, range(n)))


def _canary_requests(server: Server) -> float:
    for line in httpx.get(f"{server.url}/metrics").text.splitlines():
        if line.startswith("mloop_requests_total{") and all(
            label in line for label in ('endpoint="split"', 'role="canary"', 'status="200"')
        ):
            return float(line.split()[-1])
    return 0.0


def test_without_a_key_the_canary_takes_its_weight_within_3_points(server: Server) -> None:
    before = _canary_requests(server)
    answers = _versions(server, REQUESTS)
    versions = Counter(version for _, version, _ in answers)
    assert set(versions) == {1, 2}, versions  # never anything but the primary and the canary
    share = 100 * versions[2] / REQUESTS
    assert abs(share - WEIGHT) <= 3, f"canary took {share:.1f}% of requests at weight {WEIGHT}"
    assert _canary_requests(server) - before == versions[2]  # /metrics counts the same split


def test_a_routing_key_always_lands_on_one_side(server: Server) -> None:
    sides: dict[str, set[int]] = {}
    for key, version, _ in _versions(server, KEYS * 4, key_of=True):
        assert key is not None
        sides.setdefault(key, set()).add(version)
    assert all(len(seen) == 1 for seen in sides.values()), {
        k: v for k, v in sides.items() if len(v) > 1
    }
    canary_keys = {k for k, seen in sides.items() if seen == {2}}
    assert 0 < len(canary_keys) < KEYS, "both sides must get some keys"

    # a bigger canary takes more keys, and every key it had stays with it
    revision = _deploy(server.root, 50)
    deadline = time.monotonic() + 10
    while _versions(server, 1)[0][2] != revision:
        assert time.monotonic() < deadline, "the weight change was not served within 10 s"
        time.sleep(0.1)
    later: dict[str, set[int]] = {}
    for key, version, served_by in _versions(server, KEYS * 2, key_of=True):
        assert key is not None and served_by == revision
        later.setdefault(key, set()).add(version)
    assert all(len(seen) == 1 for seen in later.values())
    canary_later = {k for k, seen in later.items() if seen == {2}}
    assert canary_keys <= canary_later, "raising the weight moved a key back to the primary"
    assert len(canary_later) > len(canary_keys) and len(canary_later) < KEYS
