from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.conftest import mloop_here, run_mloop


def test_help_lists_every_noun(tmp_path: Path) -> None:
    result = run_mloop("--help", cwd=tmp_path)
    assert result.returncode == 0
    for noun in ("init", "artifacts", "deploy", "endpoints", "serve", "logs", "predict", "jobs"):
        assert f"\n  {noun} " in result.stdout, noun
    assert "serving" in result.stdout.splitlines()[2], "the one-line summary names serving"


def test_init_then_verify_in_a_real_process(tmp_path: Path) -> None:
    assert run_mloop("init", "ws", cwd=tmp_path).returncode == 0
    verify = run_mloop("artifacts", "verify", "--json", cwd=tmp_path / "ws")
    assert verify.returncode == 0, verify.stderr
    assert '"ok": true' in verify.stdout


def test_outside_a_workspace_is_exit_2_with_one_sentence(tmp_path: Path) -> None:
    result = run_mloop("artifacts", "verify", cwd=tmp_path)
    assert result.returncode == 2
    assert "No mloop workspace" in result.stderr and "mloop init" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_command_is_usage_error(tmp_path: Path) -> None:
    result = run_mloop("frobnicate", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_a_tampered_blob_fails_verify_with_exit_1(tmp_path: Path) -> None:
    assert mloop_here("init", "ws", cwd=tmp_path).returncode == 0
    from mloop.workspace import Workspace

    with Workspace.open(tmp_path / "ws", environ={}) as ws:
        ref = ws.artifacts.put_bytes(b"abc" * 100)
    blob = tmp_path / "ws" / ".mloop" / "artifacts" / "blobs" / ref.hash[:2] / ref.hash[2:]
    blob.chmod(0o644)
    blob.write_bytes(b"tampered")
    result = run_mloop("artifacts", "verify", cwd=tmp_path / "ws")
    assert result.returncode == 1
    assert "hash mismatch" in result.stdout


def test_config_and_path_mistakes_are_exit_2_one_sentence(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "mloop.toml").write_text("[store]\nurl = 5\n")
    result = run_mloop("data", "ls", cwd=bad)
    assert result.returncode == 2 and "store.url" in result.stderr and "string" in result.stderr
    unwritable = run_mloop("init", "/proc/no-such-place", cwd=tmp_path)
    assert unwritable.returncode == 2 and "/proc/no-such-place" in unwritable.stderr
    for failed in (result, unwritable):
        assert "Traceback" not in failed.stderr and "unexpected" not in failed.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_terminated_training_run_ends_killed_not_failed_or_running(
    tmp_path: Path, signum: signal.Signals
) -> None:
    """`kill`, `timeout`, Kubernetes and a closed terminal stop a run that did nothing wrong."""
    import json
    import subprocess
    import sys
    import time

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "churn"))
    from generate import generate

    assert mloop_here("init", "ws", cwd=tmp_path).returncode == 0
    ws = tmp_path / "ws"
    generate(3000, seed=1).to_csv(ws / "churn.csv", index=False)
    assert mloop_here("data", "add", "churn", "churn.csv", cwd=ws).returncode == 0
    slow = ["--model", "gradient_boosting", "--param", "n_estimators=5000"]
    process = subprocess.Popen(
        [sys.executable, "-m", "mloop", "train", "--data", "churn", "--target", "churned", *slow],
        cwd=ws,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        listed = mloop_here("runs", "ls", "--json", cwd=ws)
        if listed.returncode == 0 and json.loads(listed.stdout):
            break
        time.sleep(0.3)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signum, stderr
    [run] = json.loads(mloop_here("runs", "ls", "--json", cwd=ws).stdout)
    assert run["status"] == "KILLED"
    shown = json.loads(mloop_here("runs", "show", run["id"], "--json", cwd=ws).stdout)
    assert shown["info"]["error"].startswith(f"Terminated: received {signum.name}")


def test_a_file_named_as_the_workspace_is_one_sentence(tmp_path: Path) -> None:
    table = tmp_path / "table.csv"
    table.write_text("a\n1\n")
    result = run_mloop("--workspace", str(table), "data", "ls", cwd=tmp_path)
    assert result.returncode == 2 and "is a file" in result.stderr


def test_verify_names_what_a_damaged_blob_holds(tmp_path: Path) -> None:
    assert mloop_here("init", "ws", cwd=tmp_path).returncode == 0
    ws = tmp_path / "ws"
    (ws / "t.csv").write_text("a,b\n1,x\n2,y\n")
    assert mloop_here("data", "add", "t", "t.csv", cwd=ws).returncode == 0
    (blob,) = (ws / ".mloop" / "artifacts" / "blobs").glob("*/*")
    blob.chmod(0o644)
    blob.write_bytes(b"a,b\n1,x\n2,z\n")
    result = run_mloop("artifacts", "verify", cwd=ws)
    assert result.returncode == 1
    assert "hash mismatch; used by dataset t@1" in result.stdout
    blob.unlink()
    result = run_mloop("artifacts", "verify", "--json", cwd=ws)
    assert (
        result.returncode == 1 and '"dataset t@1"' in result.stdout and "missing" in result.stdout
    )


def test_broken_mloop_toml_gives_advice_that_works(tmp_path: Path) -> None:
    """`mloop init` never rewrites an existing mloop.toml, so "re-run init" alone cannot help."""
    assert mloop_here("init", "ws", cwd=tmp_path).returncode == 0
    config = tmp_path / "ws" / "mloop.toml"
    config.write_text(config.read_text() + "\n[gates.default\n")
    for command in (("artifacts", "verify"), ("init",)):
        result = run_mloop(*command, cwd=tmp_path / "ws")
        assert result.returncode == 2
        assert "not valid TOML" in result.stderr and "Traceback" not in result.stderr
        assert "re-run `mloop init`" not in result.stderr
        assert "move it aside" in result.stderr
    config.rename(config.with_suffix(".toml.broken"))  # what the message says to do
    assert run_mloop("init", cwd=tmp_path / "ws").returncode == 0
    assert run_mloop("artifacts", "verify", cwd=tmp_path / "ws").returncode == 0


def test_verify_names_the_users_of_more_lost_blobs_than_one_query_can_bind(
    tmp_path: Path,
) -> None:
    from mloop.artifacts.verify import IN_BATCH, users_of
    from mloop.workspace import Workspace

    assert mloop_here("init", "ws", cwd=tmp_path).returncode == 0
    with Workspace.open(tmp_path / "ws", environ={}) as ws:
        lost = {f"{i:064x}" for i in range(IN_BATCH * 3 + 1)}
        found = users_of(ws.store, lost)
    assert set(found) == lost and not any(found.values())


def test_piped_and_narrow_listings_keep_every_cell_on_one_line(tmp_path: Path) -> None:
    """`mloop data ls | grep NAME` must find NAME; an 80- or 40-column layout broke cells apart."""
    assert mloop_here("init", "ws", cwd=tmp_path).returncode == 0
    ws = tmp_path / "ws"
    (ws / "t.csv").write_text("a,b\n1,x\n2,y\n")
    name = "customer_churn_monthly_snapshots_for_the_retention_team"
    assert mloop_here("data", "add", name, "t.csv", cwd=ws).returncode == 0
    piped = run_mloop("data", "ls", cwd=ws)
    assert piped.returncode == 0 and name in piped.stdout
    narrow = run_mloop("data", "ls", cwd=ws, env={"COLUMNS": "40"})
    assert narrow.returncode == 0 and name in narrow.stdout
