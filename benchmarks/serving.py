"""Serving one row over HTTP on loopback: mloop beside MLflow's scoring server and a bare FastAPI.

    python benchmarks/serving.py                         # 10 s a cell; 1, 8 and 32 clients
    python benchmarks/serving.py --seconds 3 --clients 1,32
    python benchmarks/serving.py --smoke                 # toy run: checks the script works

All servers serve the same registered churn pipeline (examples/churn) and get the same one-row
request, from the same load generator: wrk (Debian's ``wrk``) when it is installed, else a
Python asyncio client (noted in the output; it costs more CPU on the same 2 cores).

Rows:
- in-process: ``LoadedModel.predict_proba`` on a one-row DataFrame (the floor; no HTTP);
- bare FastAPI: one ``def`` route building a DataFrame per request and calling the model;
- mlflow: ``mlflow models serve --workers 1`` of the same scikit-learn pipeline (the peer; needs
  the bench extra: ``pip install -e '.[bench]'``; skipped with a note when absent). It is sent the
  row already in the pipeline's own column types, which spares it mloop's coercion;
- mloop: ``mloop serve`` with validation and the prediction log on (``everysec``): with
  micro-batching (the default), without it, and on the ONNX export (``--runtime onnx``).
Start-up is not timed: every server is ready before its first timed request.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

PY = sys.executable
MLOOP = [PY, "-m", "mloop"]


@dataclass
class Cell:
    server: str
    clients: int
    rps: float
    p50_ms: float
    p99_ms: float
    failed: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mloop(ws: Path, *args: str) -> str:
    """``mloop ARGS`` in this process: set-up is never timed, and an interpreter start per step
    was most of the smoke run."""
    from mloop.cli.app import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--workspace", str(ws), *args])
    if code != 0:
        raise SystemExit(
            f"mloop {' '.join(args)} failed: {err.getvalue().strip() or out.getvalue()}"
        )
    return out.getvalue()


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
    """Polls ``url`` until it answers 200. One client for every poll: ``httpx.get`` builds a
    client (and its TLS context, ~30-60 ms of CPU) per call, taken from the server starting up
    on the same cores."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(
                    f"server for {url} exited with {proc.returncode} before it was ready"
                )
            try:
                if client.get(url).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
    raise SystemExit(f"{url} not ready after {timeout:.0f} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------- load generation


def _wrk(url: str, body: bytes, clients: int, seconds: float, scratch: Path) -> Cell:
    script = scratch / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(body.decode())}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    threads = 1 if clients < 4 else 2
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{clients}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def latency(label: str) -> float:
        match = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not match:
            return float("nan")
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*?timeout (\d+)", out)
    failed = (int(non_2xx.group(1)) if non_2xx else 0) + (int(errors.group(1)) if errors else 0)
    return Cell("", clients, rps, latency("50%"), latency("99%"), failed)


def _python_load(url: str, body: bytes, clients: int, seconds: float) -> Cell:
    latencies: list[float] = []
    failed = 0

    async def worker(client: httpx.AsyncClient, until: float) -> None:
        nonlocal failed
        while time.perf_counter() < until:
            start = time.perf_counter()
            try:
                response = await client.post(
                    url, content=body, headers={"Content-Type": "application/json"}
                )
                ok = 200 <= response.status_code < 300
            except httpx.HTTPError:
                ok = False
            latencies.append(time.perf_counter() - start)
            failed += not ok

    async def run() -> float:
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(limits=limits, timeout=10.0) as client:
            start = time.perf_counter()
            await asyncio.gather(*(worker(client, start + seconds) for _ in range(clients)))
            return time.perf_counter() - start

    elapsed = asyncio.run(run())
    ordered = sorted(latencies)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return Cell("", clients, len(latencies) / elapsed, pick(0.5), pick(0.99), failed)


def load(
    url: str, body: bytes, clients: int, seconds: float, scratch: Path, warmup: int = 20
) -> Cell:
    # A short warm-up so first-request costs (imports, caches) are not timed.
    for _ in range(warmup):
        httpx.post(url, content=body, headers={"Content-Type": "application/json"}, timeout=30)
    if shutil.which("wrk"):
        return _wrk(url, body, clients, seconds, scratch)
    return _python_load(url, body, clients, seconds)


# ---------------------------------------------------------------- the servers


def build_workspace(ws: Path, rows: int) -> dict[str, object]:
    from mloop.demo_data import generate, write  # what examples/churn/generate.py writes

    data = ws / "churn.csv"
    write(generate(rows), data)
    mloop(ws, "init", str(ws))
    mloop(ws, "data", "add", "churn", str(data))
    mloop(
        ws,
        "train",
        "--data",
        "churn@1",
        "--target",
        "churned",
        "--model",
        "logistic",
        "--seed",
        "1",
        "--register",
        "churn",
    )
    mloop(ws, "models", "export", "churn@1", "--onnx", str(ws / "churn.onnx"))
    mloop(ws, "deploy", "churn", "churn@1")
    mloop(ws, "deploy", "churn-unbatched", "churn@1")
    mloop(ws, "deploy", "churn-onnx", "churn@1", "--runtime", "onnx")
    with (ws / "mloop.toml").open("a") as toml:
        toml.write("\n[serving.endpoints.churn-unbatched]\nbatch_max_wait_ms = 0\n")
    import pandas as pd

    record = pd.read_csv(data, nrows=1).drop(columns=["churned"]).iloc[0]
    return json.loads(pd.Series(record).to_json())


def in_process(ws: Path, record: dict[str, object], n: int) -> Cell:
    import pandas as pd

    import mloop

    model = mloop.load_model("churn@1", workspace=ws)
    times = []
    for _ in range(n):
        start = time.perf_counter()
        model.predict_proba(pd.DataFrame([record]))
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return Cell(
        "in-process predict_proba",
        1,
        1000 / statistics.mean(times),
        times[len(times) // 2],
        times[int(0.99 * len(times))],
        0,
    )


BARE_APP = """
import pandas as pd
from fastapi import FastAPI
import mloop

model = mloop.load_model("churn@1", workspace={ws!r})
app = FastAPI()

@app.post("/predict")
def predict(body: dict) -> dict:
    frame = pd.DataFrame(body["dataframe_records"])
    return {{"predictions": model.predict(frame).tolist()}}
"""


def bare_fastapi(ws: Path, scratch: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    (scratch / "bare_app.py").write_text(textwrap.dedent(BARE_APP.format(ws=str(ws))))
    port = free_port()
    proc = subprocess.Popen(
        [
            PY,
            "-m",
            "uvicorn",
            "bare_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=scratch,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    wait_ready(f"{base}/docs", proc)
    return proc, f"{base}/predict", base


def mlflow_server(
    ws: Path, scratch: Path, record: dict[str, object]
) -> tuple[subprocess.Popen[bytes], str, dict[str, object]] | None:
    try:
        import mlflow.sklearn
    except ImportError:
        return None
    import pandas as pd

    import mloop

    model = mloop.load_model("churn@1", workspace=ws)
    prepared = json.loads(model.prepare(pd.DataFrame([record])).iloc[0].to_json())
    path = scratch / "mlflow-model"
    # MLflow 3 saves with skops and refuses numpy.dtype unless told it is trusted (ANCHORS.md).
    mlflow.sklearn.save_model(model.model, str(path), skops_trusted_types=["numpy.dtype"])
    port = free_port()
    # mlflow execs `uvicorn` by name: the interpreter's own bin folder must be on PATH.
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"file://{scratch / 'mlruns'}",
        "PATH": f"{Path(PY).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    proc = subprocess.Popen(
        [
            PY,
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            str(path),
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    wait_ready(f"http://127.0.0.1:{port}/ping", proc, timeout=180)
    return proc, f"http://127.0.0.1:{port}/invocations", prepared


def mloop_server(ws: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            *MLOOP,
            "--workspace",
            str(ws),
            "serve",
            "--port",
            str(port),
            "--log-durability",
            "everysec",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    wait_ready(f"{base}/health/ready", proc)
    return proc, base


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="load per cell")
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--rows", type=int, default=5000, help="training rows")
    parser.add_argument("--n", type=int, default=2000, help="in-process calls")
    parser.add_argument("--smoke", action="store_true", help="toy sizes: checks the script runs")
    parser.add_argument("--skip-mlflow", action="store_true")
    args = parser.parse_args()
    warmup = 20
    if args.smoke:
        args.seconds, args.clients, args.rows, args.n, args.skip_mlflow = 0.25, "1,4", 600, 50, True
        # Each warm-up request is a fresh httpx client (~30 ms of TLS context alone): 20 a cell
        # were a quarter of the smoke run. Two still send the first requests untimed.
        warmup = 2
    clients = [int(c) for c in args.clients.split(",")]

    scratch = Path(tempfile.mkdtemp(prefix="mloop-serving-bench-"))
    ws = scratch / "ws"
    ws.mkdir()
    cells: list[Cell] = []
    procs: list[subprocess.Popen[bytes]] = []
    try:
        record = build_workspace(ws, args.rows)
        body = json.dumps({"dataframe_records": [record]}).encode()
        floor = in_process(ws, record, args.n)
        cells.append(floor)

        def run(name: str, url: str, payload: bytes) -> None:
            for c in clients:
                cell = load(url, payload, c, args.seconds, scratch, warmup)
                cell.server = name
                cells.append(cell)
                print(f"  {name:<34} {c:>3} clients {cell.rps:8.0f} req/s", file=sys.stderr)

        proc, url, _ = bare_fastapi(ws, scratch)
        procs.append(proc)
        run("bare FastAPI (DataFrame per request)", url, body)
        stop(proc)

        peer = None if args.skip_mlflow else mlflow_server(ws, scratch, record)
        if peer is None:
            print("note: mlflow not run (pip install -e '.[bench]' for the peer)")
        else:
            proc, url, prepared = peer
            procs.append(proc)
            run(
                "mlflow models serve --workers 1",
                url,
                json.dumps({"dataframe_records": [prepared]}).encode(),
            )
            stop(proc)

        proc, base = mloop_server(ws)
        procs.append(proc)
        run("mloop (batching, log everysec)", f"{base}/v1/endpoints/churn/predict", body)
        run("mloop (no batching)", f"{base}/v1/endpoints/churn-unbatched/predict", body)
        run("mloop (onnx runtime)", f"{base}/v1/endpoints/churn-onnx/predict", body)
        stop(proc)
    finally:
        for proc in procs:
            stop(proc)
        shutil.rmtree(scratch, ignore_errors=True)

    generator = "wrk" if shutil.which("wrk") else "python asyncio (wrk not installed)"
    print(f"\nload generator: {generator}; {args.seconds:.0f} s a cell; {os.cpu_count()} cores")
    print(f"{'server':<38} {'clients':>7} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'failed':>7}")
    for cell in cells:
        clients_text = "-" if cell.server.startswith("in-process") else str(cell.clients)
        print(
            f"{cell.server:<38} {clients_text:>7} {cell.rps:9.0f} {cell.p50_ms:8.2f} "
            f"{cell.p99_ms:8.2f} {cell.failed:>7}"
        )

    def best(name: str, c: int) -> Cell | None:
        return next((x for x in cells if x.server == name and x.clients == c), None)

    most = max(clients)
    ours = max(
        (x for x in cells if x.server.startswith("mloop") and x.clients == most),
        key=lambda x: x.rps,
        default=None,
    )
    peer_cell = best("mlflow models serve --workers 1", most)
    one = best("mloop (batching, log everysec)", 1)
    print()
    if ours and peer_cell:
        print(
            f"ratio mloop / mlflow throughput at {most} clients: {ours.rps / peer_cell.rps:.1f}× ({ours.server})"
        )
    if one:
        print(
            f"mloop p50 at 1 client minus in-process predict p50: {one.p50_ms - floor.p50_ms:+.2f} ms"
        )
    print("done")


if __name__ == "__main__":
    main()
