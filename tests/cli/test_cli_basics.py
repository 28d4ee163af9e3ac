from __future__ import annotations

from pathlib import Path

from tests.conftest import run_mloop


def test_help_lists_every_noun(tmp_path: Path) -> None:
    result = run_mloop("--help", cwd=tmp_path)
    assert result.returncode == 0
    for noun in ("init", "artifacts"):
        assert noun in result.stdout


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
    assert run_mloop("init", "ws", cwd=tmp_path).returncode == 0
    from mloop.workspace import Workspace

    with Workspace.open(tmp_path / "ws", environ={}) as ws:
        ref = ws.artifacts.put_bytes(b"abc" * 100)
    blob = tmp_path / "ws" / ".mloop" / "artifacts" / "blobs" / ref.hash[:2] / ref.hash[2:]
    blob.chmod(0o644)
    blob.write_bytes(b"tampered")
    result = run_mloop("artifacts", "verify", cwd=tmp_path / "ws")
    assert result.returncode == 1
    assert "hash mismatch" in result.stdout
