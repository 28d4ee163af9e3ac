from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from mloop.artifacts import ArtifactStore, LocalArtifactStore, MemoryArtifactStore
from mloop.artifacts.verify import verify_store
from mloop.errors import IntegrityError, InvalidInput, NotFound
from mloop.hashing import hash_bytes, hash_file
from mloop.store import tables as t
from mloop.workspace import Workspace


@pytest.fixture(params=["local", "memory"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "local":
        return LocalArtifactStore(tmp_path / "artifacts")
    return MemoryArtifactStore()


def test_conformance_round_trip_and_dedup(blobs: ArtifactStore, tmp_path: Path) -> None:
    assert isinstance(blobs, ArtifactStore)
    ref = blobs.put_bytes(b"hello")
    assert ref.hash == hash_bytes(b"hello") and ref.size == 5
    assert blobs.get_bytes(ref.hash) == b"hello"
    assert blobs.get_bytes(ref.uri) == b"hello"
    source = tmp_path / "f.bin"
    source.write_bytes(b"hello")
    assert blobs.put_file(source) == ref
    assert list(blobs.hashes()) == [ref.hash]
    assert blobs.local_path(ref.hash).read_bytes() == b"hello"
    assert blobs.verify(ref.hash) is None


def test_conformance_missing_blob_is_not_found(blobs: ArtifactStore) -> None:
    with pytest.raises(NotFound):
        blobs.get_bytes("0" * 64)
    problem = blobs.verify("0" * 64)
    assert problem is not None and problem.problem == "missing"


def test_a_name_is_never_a_path(tmp_path: Path) -> None:
    blobs = LocalArtifactStore(tmp_path / "a")
    with pytest.raises(InvalidInput):
        blobs.get_bytes("../../etc/passwd")


def test_empty_file_hashes_like_empty_bytes(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert hash_file(empty) == hash_bytes(b"")


@pytest.mark.parametrize("damage", ["tamper", "truncate"])
def test_a_damaged_blob_is_refused(tmp_path: Path, damage: str) -> None:
    blobs = LocalArtifactStore(tmp_path / "a")
    ref = blobs.put_bytes(b"model weights" * 1000)
    path = blobs.blobs / ref.hash[:2] / ref.hash[2:]
    os.chmod(path, 0o644)
    data = path.read_bytes()
    path.write_bytes(data[:-10] if damage == "truncate" else b"X" + data[1:])
    with pytest.raises(IntegrityError, match="corrupt"):
        blobs.get_bytes(ref.hash)
    with pytest.raises(IntegrityError):
        blobs.local_path(ref.hash)
    problem = blobs.verify(ref.hash)
    assert problem is not None and problem.problem == "hash mismatch"


_WRITER = """
import sys, datetime as dt
from pathlib import Path
from mloop.workspace import Workspace
from mloop.store import tables as t
from mloop.ids import new_id

ws = Workspace.open(sys.argv[1])
ref = ws.artifacts.put_file(Path(sys.argv[2]))
with ws.store.transaction() as conn:
    conn.execute(t.experiments.insert().values(id=new_id(), name="x", created_at=dt.datetime.now(dt.UTC)))
"""


def test_sigkill_mid_write_leaves_no_blob_and_no_row(workspace: Workspace, tmp_path: Path) -> None:
    """The source is a named pipe we feed by hand, so the writer is really mid-copy when killed."""
    fifo = tmp_path / "stream"
    os.mkfifo(fifo)
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    env = {**os.environ, "MLOOP_STORE_URL": workspace.settings.store_url}
    proc = subprocess.Popen([sys.executable, str(script), str(workspace.root), str(fifo)], env=env)
    tmp_dir = workspace.settings.artifacts_path / "tmp"
    with fifo.open("wb") as pipe:
        pipe.write(b"x" * (9 << 20))  # more than one 8 MiB copy chunk
        pipe.flush()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            parts = list(tmp_dir.glob("*.part")) if tmp_dir.exists() else []
            if parts and parts[0].stat().st_size > 0:
                break
            time.sleep(0.05)
        else:
            proc.kill()
            proc.wait(10)
            pytest.fail("the writer never started copying")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    assert list(workspace.artifacts.hashes()) == []
    report = verify_store(workspace.store, workspace.artifacts)
    assert report.ok and report.checked == 0
    with workspace.store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.experiments)).scalar() == 0
    assert len(list(tmp_dir.glob("*.part"))) == 1
    assert isinstance(workspace.artifacts, LocalArtifactStore)
    assert workspace.artifacts.cleanup_tmp(older_than_s=0) == 1


def test_a_full_disk_names_the_store_and_leaves_no_part_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    store = LocalArtifactStore(tmp_path / "artifacts")
    source = tmp_path / "model.bin"
    source.write_bytes(b"x" * 1000)

    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")  # as a full disk: no file name

    monkeypatch.setattr("mloop.artifacts.local.os.fsync", full)
    for put in (lambda: store.put_bytes(b"y" * 1000), lambda: store.put_file(source)):
        with pytest.raises(OSError) as raised:
            put()
        assert raised.value.errno == errno.ENOSPC
        assert raised.value.filename == str(tmp_path / "artifacts")
    assert list((tmp_path / "artifacts" / "tmp").iterdir()) == []
    assert list(store.hashes()) == []
