"""A process that logs as fast as it can and prints each acknowledged request id (with the time
it was acknowledged), until the test kills it with SIGKILL.

Usage: python crash_child.py FOLDER DURABILITY
"""

from __future__ import annotations

import datetime as dt
import sys
import threading
import time

from mloop.predlog import PredictionLog


def main() -> None:
    folder, durability = sys.argv[1], sys.argv[2]
    log = PredictionLog(folder, durability=durability, segment_bytes=256 << 10)
    out = threading.Lock()

    def client(n: int) -> None:
        i = 0
        while True:
            size = 1 + (i % 20)
            ids = [f"c{n}-{i}-{k}" for k in range(size)]
            records = [
                {
                    "timestamp": dt.datetime.now(dt.UTC),
                    "endpoint": "churn",
                    "request_id": rid,
                    "prediction_id": rid,
                    "model": "churn",
                    "version": 1,
                    "revision": 1,
                    "role": "primary",
                    "status": 200,
                    "latency_ms": 1.0,
                    "inputs": {"tenure": i, "plan": "pro", "charges": i * 1.5},
                    "prediction": "yes",
                    "probabilities": {"yes": 0.6, "no": 0.4},
                }
                for rid in ids
            ]
            log.submit("churn", records, timeout=5).result()
            stamp = time.monotonic()
            with out:
                sys.stdout.write("".join(f"{rid} {stamp:.6f}\n" for rid in ids))
                sys.stdout.flush()
            i += 1

    sys.stdout.write("ready\n")
    sys.stdout.flush()
    for n in range(4):
        threading.Thread(target=client, args=(n,), daemon=True).start()
    threading.Event().wait()


if __name__ == "__main__":
    main()
