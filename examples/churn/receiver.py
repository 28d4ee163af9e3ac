"""A webhook receiver on loopback, as an on-call tool would run one: it prints each alert it gets.

    python receiver.py --port-file receiver.port --fail-first 2

It answers 503 to the first ``--fail-first`` posts (a receiver that is down for a moment), then
200; mloop retries with back-off and records each delivery on the alert. The port it bound (a
free one) is written to ``--port-file`` so the demo can put the URL in mloop.toml.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port-file", type=Path, required=True)
    parser.add_argument("--fail-first", type=int, default=0)
    args = parser.parse_args()
    failures_left = args.fail_first

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            nonlocal failures_left
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if failures_left > 0:
                failures_left -= 1
                self.send_response(503)
                self.end_headers()
                print("receiver: answered 503 (down for a moment)", flush=True)
                return
            self.send_response(200)
            self.end_headers()
            try:
                alert = json.loads(body)
                print(f"receiver: alert {alert.get('kind')}: {alert.get('message')}", flush=True)
            except ValueError:
                print(f"receiver: a body that is not JSON ({len(body)} bytes)", flush=True)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    args.port_file.write_text(str(server.server_address[1]))
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    sys.exit(0)


if __name__ == "__main__":
    main()
