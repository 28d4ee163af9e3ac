"""Which artifact store a URL opens, and the one sentence for URLs mloop cannot open."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mloop.artifacts import LocalArtifactStore, MemoryArtifactStore
from mloop.artifacts.registry import open_artifact_store
from mloop.config import load_settings
from mloop.demo_data import generate
from mloop.errors import InvalidInput
from mloop.workspace import Workspace
from tests.conftest import S3Server, run_mloop


@pytest.mark.parametrize(
    ("url", "folder"),
    [
        ("blobs", "ws/blobs"),
        ("./a/../blobs", "ws/blobs"),
        ("{tmp}/elsewhere", "elsewhere"),
        ("file://{tmp}/elsewhere", "elsewhere"),
        ("file://localhost{tmp}/with%20space", "with space"),
    ],
)
def test_a_path_or_file_url_opens_a_local_folder(tmp_path: Path, url: str, folder: str) -> None:
    store = open_artifact_store(url.format(tmp=tmp_path), root=tmp_path / "ws")
    assert isinstance(store, LocalArtifactStore)
    assert store.root == (tmp_path / folder).resolve()
    ref = store.put_bytes(b"x")
    assert (tmp_path / folder / "blobs" / ref.hash[:2] / ref.hash[2:]).exists()


def test_memory_urls_name_one_store_per_process(tmp_path: Path) -> None:
    first = open_artifact_store("memory://registry-a", root=tmp_path)
    assert isinstance(first, MemoryArtifactStore)
    ref = first.put_bytes(b"shared")
    assert open_artifact_store("memory://registry-a", root=tmp_path).exists(ref.hash)
    assert not open_artifact_store("memory://registry-b", root=tmp_path).exists(ref.hash)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("s3://", r"names no bucket; write s3://BUCKET or s3://BUCKET/PREFIX"),
        ("ftp://host/x", r"scheme mloop does not know \(ftp://\); use a folder path or one of"),
        ("file://otherhost/x", r"names another host \(otherhost\)"),
    ],
)
def test_a_url_mloop_cannot_open_is_one_clear_sentence(
    tmp_path: Path, url: str, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        open_artifact_store(url, root=tmp_path)


def test_config_reads_url_and_the_old_path_key_but_not_both(tmp_path: Path) -> None:
    config = tmp_path / "mloop.toml"
    config.write_text('[artifacts]\nurl = "memory://from-file"\n')
    settings = load_settings(tmp_path, {})
    assert settings.artifacts_url == "memory://from-file"
    with pytest.raises(InvalidInput, match="not in a local folder"):
        _ = settings.artifacts_path
    config.write_text('[artifacts]\npath = "old/place"\n')
    old = load_settings(tmp_path, {})
    assert old.artifacts_url == str(tmp_path.resolve() / "old" / "place")
    assert old.artifacts_path == tmp_path.resolve() / "old" / "place"
    config.write_text('[artifacts]\nurl = "a"\npath = "b"\n')
    with pytest.raises(InvalidInput, match="both url and path"):
        load_settings(tmp_path, {})


def test_a_workspace_opens_the_store_its_url_names(tmp_path: Path) -> None:
    environ = {"MLOOP_ARTIFACTS": "memory://workspace-test"}
    workspace, _ = Workspace.init(tmp_path / "ws", environ=environ)
    with workspace:
        assert isinstance(workspace.artifacts, MemoryArtifactStore)
        ref = workspace.artifacts.put_bytes(b"blob")
    assert not (tmp_path / "ws" / ".mloop" / "artifacts").exists()
    with Workspace.open(tmp_path / "ws", environ=environ) as again:
        assert again.artifacts.get_bytes(ref.hash) == b"blob"


def test_init_shows_the_artifact_url(tmp_path: Path) -> None:
    shown = run_mloop("init", "ws", cwd=tmp_path, env={"MLOOP_ARTIFACTS": "memory://cli"})
    assert shown.returncode == 0, shown.stderr
    assert "artifacts=memory://cli" in shown.stdout
    local = run_mloop("init", "plain", cwd=tmp_path)
    assert f"artifacts={(tmp_path / 'plain' / '.mloop' / 'artifacts').resolve()}" in local.stdout


def test_a_workspace_on_an_s3_bucket_trains_registers_and_scores(
    tmp_path: Path, s3_server: S3Server
) -> None:
    """Every blob in the bucket, nothing under .mloop/artifacts; a bucket that does not exist
    and an endpoint that does not answer are one sentence each, exit 2."""
    churn_csv = tmp_path / "churn.csv"
    generate(800, seed=1).to_csv(churn_csv, index=False)
    bucket = s3_server.new_bucket()
    env = {**s3_server.environ, "MLOOP_ARTIFACTS": f"s3://{bucket}/ml", "MLOOP_USER": "tester"}
    assert run_mloop("init", "ws", cwd=tmp_path, env=env).returncode == 0
    ws = tmp_path / "ws"
    for args in (
        ("data", "add", "churn", str(churn_csv)),
        ("train", "--data", "churn", "--target", "churned", "--register", "churn"),
        ("predict", "churn@1", "-i", str(churn_csv), "-o", str(tmp_path / "scored.csv")),
    ):
        done = run_mloop(*args, cwd=ws, env=env)
        assert done.returncode == 0, done.stderr
    assert len(pd.read_csv(tmp_path / "scored.csv")) == len(pd.read_csv(churn_csv))
    assert not (ws / ".mloop" / "artifacts").exists()
    import boto3

    client = boto3.client("s3", endpoint_url=s3_server.endpoint, **_credentials(s3_server))
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys and all(k.startswith("ml/blobs/") for k in keys)
    verified = run_mloop("artifacts", "verify", cwd=ws, env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr

    missing = {**env, "MLOOP_ARTIFACTS": "s3://no-such-bucket-here/ml"}
    not_made = run_mloop("init", "elsewhere", cwd=tmp_path, env=missing)
    assert not_made.returncode == 2 and "Traceback" not in not_made.stderr
    assert "Bucket 'no-such-bucket-here' does not exist" in not_made.stderr
    assert not (tmp_path / "elsewhere").exists()
    refused = run_mloop("data", "add", "other", str(churn_csv), cwd=ws, env=missing)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "Bucket 'no-such-bucket-here' does not exist" in refused.stderr
    away = {**env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_MAX_ATTEMPTS": "1"}
    unreachable = run_mloop("data", "add", "other", str(churn_csv), cwd=ws, env=away)
    assert (
        unreachable.returncode == 2 and "Could not reach the artifact store" in unreachable.stderr
    )


def _credentials(server: S3Server) -> dict[str, str]:
    environ = server.environ
    return {
        "aws_access_key_id": environ["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": environ["AWS_SECRET_ACCESS_KEY"],
        "region_name": environ["AWS_REGION"],
    }
