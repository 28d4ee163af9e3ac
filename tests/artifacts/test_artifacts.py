from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from mloop.artifacts import LocalArtifactStore
from mloop.artifacts.verify import verify_store
from mloop.errors import InvalidInput
from mloop.hashing import hash_bytes, hash_file
from mloop.store import tables as t
from mloop.workspace import Workspace


def test_a_name_is_never_a_path(tmp_path: Path) -> None:
    blobs = LocalArtifactStore(tmp_path / "a")
    with pytest.raises(InvalidInput):
        blobs.get_bytes("../../etc/passwd")


def test_empty_file_hashes_like_empty_bytes(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert hash_file(empty) == hash_bytes(b"")


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


def test_verify_finds_exactly_the_damaged_blobs_among_many(workspace: Workspace) -> None:
    """Blobs are hashed several at once, small ones whole and large ones mapped; every one counts."""
    from mloop.artifacts.local import WHOLE_READ_MAX

    store = workspace.artifacts
    assert isinstance(store, LocalArtifactStore)
    sizes = [0, 1, 4096, WHOLE_READ_MAX, WHOLE_READ_MAX + 1, 3 * WHOLE_READ_MAX + 7] * 5
    refs = [store.put_bytes(os.urandom(size)) for size in sizes]
    # One of each kind of damage, on blobs on both sides of the whole-read limit.
    truncated, tampered, deleted = refs[5].hash, refs[9].hash, refs[14].hash
    for digest, damage in ((truncated, "truncate"), (tampered, "tamper")):
        path = store.blobs / digest[:2] / digest[2:]
        os.chmod(path, 0o644)
        data = path.read_bytes()
        path.write_bytes(data[:-1] if damage == "truncate" else bytes([data[0] ^ 1]) + data[1:])
    (store.blobs / deleted[:2] / deleted[2:]).unlink()
    seen: list[tuple[int, int]] = []
    report = verify_store(
        workspace.store, store, progress=lambda done, total: seen.append((done, total))
    )
    stored = len({ref.hash for ref in refs})  # the five empty blobs are one
    assert report.checked == stored - 1
    assert sorted((p.hash, p.problem) for p in report.problems) == sorted(
        [(truncated, "hash mismatch"), (tampered, "hash mismatch")]
    )
    assert seen == [(done, stored - 1) for done in range(1, stored)]
