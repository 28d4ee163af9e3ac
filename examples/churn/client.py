"""Call a churn endpoint served by `mloop serve`, as an application would (httpx, plain JSON).

    python client.py ready URL [--revision churn=2]         # wait for GET /health/ready
    python client.py predict URL ENDPOINT --data CSV        # one good request, one answered 422
    python client.py traffic URL ENDPOINT --data CSV -n 48  # a canary split, with and without keys
    python client.py month URL ENDPOINT --data CSV          # every row, one request each, 8 at a time

`URL` is what `mloop serve` printed first (`serving http://127.0.0.1:PORT`). Rows come from a file
of customers such as `generate.py` writes; the target column is left out, as a caller has no label.
Exit 0 when the server answered as described, 1 when it did not.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

TARGET = "churned"


def customers(path: Path) -> list[dict[str, Any]]:
    """The file's rows as JSON objects (empty cells become null), without the label.

    Only an empty cell is missing: pandas would also read the text "None" (a customer without
    internet service, a category the model knows) as missing, and the server would refuse it.
    """
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    frame = frame.drop(columns=[TARGET], errors="ignore")
    rows: list[dict[str, Any]] = json.loads(frame.to_json(orient="records"))
    return rows


def ready(url: str, timeout_s: float, revisions: dict[str, int]) -> int:
    """Poll /health/ready until it answers 200 (every endpoint has its model loaded) and each
    endpoint in ``revisions`` serves that revision (a new one is loaded and warmed first)."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(f"{url}/health/ready", timeout=5)
            serving = answer.json().get("endpoints", {})
            if answer.status_code == 200 and all(
                serving.get(name, {}).get("revision") == number
                for name, number in revisions.items()
            ):
                print(f"GET /health/ready -> 200 {answer.text}")
                return 0
            last = f"{answer.status_code} {answer.text}"
        except (httpx.TransportError, ValueError) as exc:  # not up yet, or not JSON
            last = str(exc)
        time.sleep(0.1)
    print(f"not ready after {timeout_s:g} s: {last}", file=sys.stderr)
    return 1


def predict(url: str, endpoint: str, rows: list[dict[str, Any]]) -> int:
    """One valid row (answered 200), then two broken rows (answered 422 with every reason)."""
    path = f"/v1/endpoints/{endpoint}/predict"
    with httpx.Client(base_url=url, timeout=30) as client:
        good = client.post(path, json={"dataframe_records": rows[:1]})
        print(f"POST {path}  1 row -> {good.status_code}")
        print(json.dumps(good.json()))
        if "x-ignored-fields" in good.headers:
            print(f"X-Ignored-Fields: {good.headers['x-ignored-fields']}  (not model inputs)")
        broken = [
            dict(rows[1], payment_method="Crypto wallet"),  # a category the model never saw
            dict(rows[2], tenure_months=-3),  # below the schema's minimum
        ]
        bad = client.post(path, json={"dataframe_records": broken})
        print(f"POST {path}  2 broken rows -> {bad.status_code}")
        error = bad.json()["error"]
        print(f'{{"error": {{"code": "{error["code"]}", "message": {json.dumps(error["message"])},')
        print('           "detail": [')
        print(",\n".join(f"             {json.dumps(item)}" for item in error["detail"] or []))
        print("           ]}}")
    return 0 if (good.status_code, bad.status_code) == (200, 422) else 1


def traffic(url: str, endpoint: str, rows: list[dict[str, Any]], requests: int) -> int:
    """``requests`` one-row requests, every other one with ``X-Routing-Key: customer_id``.

    A keyed customer always lands on the same side of a canary split; unkeyed requests are split
    at random by the weight. Prints who answered, and exit 1 if a key ever saw two versions.
    """
    path = f"/v1/endpoints/{endpoint}/predict"
    answered: Counter[tuple[str, str]] = Counter()
    seen: defaultdict[str, set[str]] = defaultdict(set)
    statuses: Counter[int] = Counter()
    keys = [str(row["customer_id"]) for row in rows[:8]]  # 8 customers, each calling repeatedly
    with httpx.Client(base_url=url, timeout=30) as client:
        for n in range(requests):
            row = rows[n % len(rows)]
            key = keys[n // 2 % len(keys)] if n % 2 else None
            headers = {"X-Routing-Key": key} if key else {}
            answer = client.post(path, json={"dataframe_records": [row]}, headers=headers)
            statuses[answer.status_code] += 1
            if answer.status_code != 200:
                continue
            body = answer.json()
            model = f"{body['model']}@{body['version']}"
            answered[("with key" if key else "no key", model)] += 1
            if key:
                seen[key].add(model)
    print(f"{requests} requests: " + ", ".join(f"{n}x {s}" for s, n in sorted(statuses.items())))
    for (kind, model), count in sorted(answered.items()):
        print(f"  {kind:8}  answered by {model}: {count}")
    sticky = all(len(models) == 1 for models in seen.values())
    print(
        "  each routing key stayed on one model: "
        + ", ".join(f"{key}->{min(models)}" for key, models in sorted(seen.items()))
    )
    return 0 if sticky and set(statuses) == {200} else 1


def month(url: str, endpoint: str, rows: list[dict[str, Any]], clients: int = 8) -> int:
    """Every row as its own request keyed by ``customer_id``, ``clients`` callers at a time.

    This is a month of production traffic arriving: rows the schema refuses are answered 422 (and
    logged as rejected), the rest are scored. The labels come later, joined by the routing key.
    """
    path = f"/v1/endpoints/{endpoint}/predict"
    statuses: Counter[int] = Counter()
    started = time.perf_counter()

    def send(chunk: list[dict[str, Any]]) -> Counter[int]:
        seen: Counter[int] = Counter()
        with httpx.Client(base_url=url, timeout=30) as client:
            for row in chunk:
                headers = {"X-Routing-Key": str(row["customer_id"])}
                answer = client.post(path, json={"dataframe_records": [row]}, headers=headers)
                seen[answer.status_code] += 1
        return seen

    with ThreadPoolExecutor(clients) as pool:
        for seen in pool.map(send, [rows[i::clients] for i in range(clients)]):
            statuses.update(seen)
    seconds = time.perf_counter() - started
    print(
        f"{len(rows)} requests in {seconds:.1f} s: "
        + ", ".join(f"{n}x {s}" for s, n in sorted(statuses.items()))
    )
    return 0 if set(statuses) <= {200, 422} and statuses[200] > 0 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    wait = commands.add_parser("ready", help="wait until every endpoint has its model loaded")
    wait.add_argument("url")
    wait.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60)")
    wait.add_argument(
        "--revision",
        action="append",
        default=[],
        metavar="ENDPOINT=N",
        help="also wait until ENDPOINT serves revision N (repeatable)",
    )
    for name, what in (
        ("predict", "one good and one bad request"),
        ("traffic", "a canary"),
        ("month", "every row of a file, as production traffic"),
    ):
        command = commands.add_parser(name, help=what)
        command.add_argument("url")
        command.add_argument("endpoint")
        command.add_argument("--data", type=Path, required=True, help="CSV of customers")
        if name == "traffic":
            command.add_argument("-n", "--requests", type=int, default=48)
    args = parser.parse_args(argv)
    url = args.url.rstrip("/")
    if args.command == "ready":
        revisions = {}
        for pair in args.revision:
            name, _, number = pair.partition("=")
            if not number.isdigit():
                parser.error(f"--revision {pair!r}: write ENDPOINT=N, e.g. churn=2")
            revisions[name] = int(number)
        return ready(url, args.timeout, revisions)
    rows = customers(args.data)
    if args.command == "predict":
        return predict(url, args.endpoint, rows)
    if args.command == "month":
        return month(url, args.endpoint, rows)
    return traffic(url, args.endpoint, rows, args.requests)


if __name__ == "__main__":
    sys.exit(main())
