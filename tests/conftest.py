"""Shared fixtures: a store per back end (SQLite always, PostgreSQL when configured), a workspace
on it, and a CLI runner that calls the real ``main`` in-process.

PostgreSQL: set ``MLOOP_TEST_POSTGRES_URL=postgresql+psycopg://user@host:5432/db``; each test gets
its own schema, dropped afterwards.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from mloop.cli.app import main
from mloop.ids import new_id
from mloop.workspace import Workspace

POSTGRES_URL = os.environ.get("MLOOP_TEST_POSTGRES_URL")
BACKENDS = [
    "sqlite",
    pytest.param(
        "postgresql",
        marks=pytest.mark.skipif(not POSTGRES_URL, reason="MLOOP_TEST_POSTGRES_URL is not set"),
    ),
]


@pytest.fixture(scope="session")
def user_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache folder for the whole run, so tests never write the real ~/.cache/mloop."""
    return tmp_path_factory.mktemp("user-cache")


@dataclass(frozen=True)
class S3Server:
    """A real S3-compatible HTTP server on loopback (moto's), and the environment boto3 reads."""

    endpoint: str

    @property
    def environ(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "mloop-test",
            "AWS_SECRET_ACCESS_KEY": "mloop-test",
            "AWS_REGION": "us-east-1",
        }

    def new_bucket(self) -> str:
        import boto3

        name = f"mloop-{new_id()}"
        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id="mloop-test",
            aws_secret_access_key="mloop-test",
            region_name="us-east-1",
        )
        client.create_bucket(Bucket=name)
        return name


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """Started once per test process, for the tests that ask for it. Elsewhere, point the S3
    tests at MinIO or a bucket's endpoint by changing nothing but this fixture's endpoint."""
    server_module = pytest.importorskip("moto.server", reason="the S3 tests need moto[server]")
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield S3Server(f"http://{host}:{port}")
    server.stop()


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, user_cache: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(user_cache))
    for key in list(os.environ):
        if key.startswith("MLOOP_") and key != "MLOOP_TEST_POSTGRES_URL":
            monkeypatch.delenv(key)
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'mloop.db'}"
        return
    assert POSTGRES_URL
    schema = f"t_{new_id()}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def workspace(tmp_path: Path, store_url: str) -> Iterator[Workspace]:
    environ = {"MLOOP_STORE_URL": store_url, "MLOOP_USER": "tester"}
    ws, _ = Workspace.init(tmp_path / "ws", environ=environ)
    yield ws
    ws.close()


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> object:
    """Run ``mloop ARGS`` in-process inside the workspace, as a user in that folder would."""
    monkeypatch.chdir(workspace.root)
    monkeypatch.setenv("MLOOP_STORE_URL", workspace.settings.store_url)
    monkeypatch.setenv("MLOOP_USER", "tester")

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run


def run_mloop(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real console entry point in a subprocess."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MLOOP_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "mloop", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        errors="replace",  # a test may set a non-UTF-8 PYTHONIOENCODING
        timeout=120,
    )


def mloop_here(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``run_mloop`` through the real ``main`` in this process: for the steps a test is not
    about (set-up, polling), since each process start costs the suite about a second."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


# Files that take a minute or more run first: `--dist loadfile` hands files to the two workers in
# collection order, and a long file collected last ran alone while the other worker sat idle.
SLOW_FIRST = (
    "tests/executors/test_ray_executor.py",
    "tests/test_demo_story.py",
    "tests/cli/test_environments.py",
    "tests/batch/test_parquet_folders.py",
    "tests/training/test_sweep.py",
    "tests/loop/test_agent.py",
    "tests/loop/test_retrain.py",
    "tests/loop/test_rollout_job.py",
    "tests/serving/test_feedback_route.py",
    "tests/serving/test_reliability_swaps.py",
    "tests/loop/test_closed_loop.py",
    "tests/rollouts/test_live.py",
    "tests/pipelines/test_ray.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
