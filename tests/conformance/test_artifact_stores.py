"""Every artifact store implementation through the same cases: a folder, memory, and an S3 bucket
on a real S3-compatible server on loopback (moto's).

Each back end is opened by URL through ``mloop.artifacts.registry``, as a workspace opens it; the
only per-back-end code here is how to damage a stored blob, which no interface method may allow.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import blake3
import pytest

from mloop.artifacts import ArtifactStore, LocalArtifactStore, MemoryArtifactStore
from mloop.artifacts.base import CHUNK
from mloop.artifacts.registry import open_artifact_store
from mloop.artifacts.s3 import S3ArtifactStore
from mloop.errors import IntegrityError, NotFound
from mloop.ids import new_id
from tests.conftest import S3Server

# Several chunks and a ragged tail, so chunking and the held-back last chunk are both exercised.
BIG = os.urandom(3 * CHUNK + 12345)


@dataclass
class Backend:
    name: str
    url: str
    root: Path
    store: ArtifactStore
    damage: Callable[[str, str], None]  # (digest, "tamper" | "truncate")
    # A store other processes can open by URL (a folder, a bucket); an in-memory one is not.
    shared_across_processes: bool


def _damaged(data: bytes, how: str) -> bytes:
    return data[: len(data) // 2] if how == "truncate" else bytes([data[0] ^ 1]) + data[1:]


def _local(tmp_path: Path) -> Backend:
    url = str(tmp_path / "artifacts")
    store = open_artifact_store(url, root=tmp_path)
    assert isinstance(store, LocalArtifactStore)

    def damage(digest: str, how: str) -> None:
        path = store.blobs / digest[:2] / digest[2:]
        os.chmod(path, 0o644)
        path.write_bytes(_damaged(path.read_bytes(), how))

    return Backend("local", url, tmp_path, store, damage, shared_across_processes=True)


def _memory(tmp_path: Path) -> Backend:
    url = f"memory://conformance-{new_id()}"
    store = open_artifact_store(url, root=tmp_path)
    assert isinstance(store, MemoryArtifactStore)

    def damage(digest: str, how: str) -> None:
        store.blobs[digest] = _damaged(store.blobs[digest], how)

    return Backend("memory", url, tmp_path, store, damage, shared_across_processes=False)


def _s3(tmp_path: Path, server: S3Server) -> Backend:
    url = f"s3://{server.new_bucket()}/team/artifacts"
    store = open_artifact_store(url, root=tmp_path)
    assert isinstance(store, S3ArtifactStore)

    def damage(digest: str, how: str) -> None:
        key = f"team/artifacts/blobs/{digest[:2]}/{digest[2:]}"
        stored = store.client.get_object(Bucket=store.bucket, Key=key)["Body"].read()
        store.client.put_object(Bucket=store.bucket, Key=key, Body=_damaged(stored, how))

    return Backend("s3", url, tmp_path, store, damage, shared_across_processes=True)


@pytest.fixture(params=["local", "memory", "s3"])
def backend(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Backend:
    if request.param == "s3":
        server: S3Server = request.getfixturevalue("s3_server")
        for key, value in server.environ.items():  # read by boto3 here and in writer processes
            monkeypatch.setenv(key, value)
        return _s3(tmp_path, server)
    make: Callable[[Path], Backend] = {"local": _local, "memory": _memory}[request.param]
    return make(tmp_path)


def digest_of(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def test_round_trip_through_every_write_and_read(backend: Backend, tmp_path: Path) -> None:
    store = backend.store
    assert isinstance(store, ArtifactStore)
    source = tmp_path / "big.bin"
    source.write_bytes(BIG)
    with source.open("rb") as f:
        streamed = store.put_stream(f)
    assert streamed.hash == digest_of(BIG) and streamed.size == len(BIG)
    assert store.exists(streamed.hash) and store.exists(streamed.uri)
    with store.open_blob(streamed.uri) as reader:
        assert reader.read() == BIG
    chunks = list(store.iter_blob(streamed.hash))
    assert len(chunks) > 1 and b"".join(chunks) == BIG
    assert store.get_bytes(streamed.hash) == BIG
    assert store.local_path(streamed.hash).read_bytes() == BIG
    assert store.verify(streamed.hash) is None
    empty = store.put_stream(io.BytesIO(b""))
    assert empty.hash == digest_of(b"") and store.get_bytes(empty.hash) == b""
    assert list(store.iter_blob(empty.hash)) == []
    assert list(store.hashes()) == sorted([streamed.hash, empty.hash])


def test_identical_content_is_stored_once(backend: Backend, tmp_path: Path) -> None:
    store = backend.store
    source = tmp_path / "big.bin"
    source.write_bytes(BIG)
    refs = {
        store.put_bytes(BIG),
        store.put_file(source),
        store.put_stream(io.BytesIO(BIG)),
        store.put_stream(io.BufferedReader(io.BytesIO(BIG), buffer_size=100)),
    }
    assert len(refs) == 1
    assert list(store.hashes()) == [digest_of(BIG)]


def test_a_missing_blob_is_not_found(backend: Backend) -> None:
    store, absent = backend.store, digest_of(b"never stored")
    assert not store.exists(absent)
    for read in (store.get_bytes, store.open_blob, store.local_path):
        with pytest.raises(NotFound):
            read(absent)
    with pytest.raises(NotFound):
        list(store.iter_blob(absent))
    problem = store.verify(absent)
    assert problem is not None and problem.problem == "missing"


@pytest.mark.parametrize("how", ["tamper", "truncate"])
def test_a_damaged_blob_is_refused_by_every_read(backend: Backend, how: str) -> None:
    store = backend.store
    ref = store.put_bytes(BIG)
    backend.damage(ref.hash, how)
    with pytest.raises(IntegrityError, match="corrupt"):
        store.get_bytes(ref.hash)
    with pytest.raises(IntegrityError), store.open_blob(ref.hash) as reader:
        reader.read()
    received: list[bytes] = []
    with pytest.raises(IntegrityError):
        for chunk in store.iter_blob(ref.hash):
            received.append(chunk)
    # The tail of a damaged blob never reaches the consumer.
    assert sum(map(len, received)) < len(_damaged(BIG, how))
    with pytest.raises(IntegrityError):
        store.local_path(ref.hash)
    problem = store.verify(ref.hash)
    assert problem is not None and problem.problem == "hash mismatch"


class _BreaksAfter:
    """A source that fails part way, as a dropped connection or a full disk upstream would."""

    def __init__(self, data: bytes, after: int) -> None:
        self._data = io.BytesIO(data)
        self._after = after

    def read(self, size: int = -1, /) -> bytes:
        if self._data.tell() >= self._after:
            raise ConnectionResetError("source went away")
        return self._data.read(size)


def test_a_writer_whose_source_fails_leaves_nothing(backend: Backend) -> None:
    with pytest.raises(ConnectionResetError):
        backend.store.put_stream(_BreaksAfter(BIG, after=2 * CHUNK))
    assert list(backend.store.hashes()) == []


_PUT_FROM = """
import sys
from pathlib import Path
from mloop.artifacts.registry import open_artifact_store
from mloop.artifacts.s3 import S3ArtifactStore

store = open_artifact_store(sys.argv[1], root=Path(sys.argv[2]))
with open(sys.argv[3], "rb") as source:
    print(store.put_stream(source).hash, flush=True)
"""


def _writer(backend: Backend, source: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _PUT_FROM, backend.url, str(backend.root), str(source)],
        stdout=subprocess.PIPE,
        text=True,
    )


def _shared(backend: Backend) -> None:
    if not backend.shared_across_processes:
        pytest.skip(f"a {backend.name} store lives in one process; killing it takes the store")


def test_a_writer_killed_mid_write_leaves_nothing_visible(backend: Backend, tmp_path: Path) -> None:
    """A real process, SIGKILLed while its stream is half read: no blob, then or later."""
    _shared(backend)
    fifo = tmp_path / "stream"
    os.mkfifo(fifo)
    proc = _writer(backend, fifo)
    with fifo.open("wb") as pipe:
        # A pipe holds 64 KiB: once these writes return, the writer has consumed and stored
        # megabytes, and is blocked waiting for the rest.
        pipe.write(BIG[: 2 * CHUNK])
        pipe.flush()
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert list(backend.store.hashes()) == []
    reopened = open_artifact_store(backend.url, root=backend.root)
    assert list(reopened.hashes()) == []
    assert not reopened.exists(digest_of(BIG[: 2 * CHUNK]))


def test_concurrent_writers_of_one_blob_end_with_one_intact_blob(
    backend: Backend, tmp_path: Path
) -> None:
    store = backend.store
    start = threading.Barrier(6)
    refs = []

    def put() -> None:
        start.wait()
        refs.append(store.put_stream(io.BytesIO(BIG)))

    threads = [threading.Thread(target=put) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(refs) == 6 and {r.hash for r in refs} == {digest_of(BIG)}
    if backend.shared_across_processes:
        source = tmp_path / "big.bin"
        source.write_bytes(BIG + b"processes")
        procs = [_writer(backend, source) for _ in range(4)]
        outputs = {proc.communicate(timeout=60)[0].strip() for proc in procs}
        assert [proc.returncode for proc in procs] == [0] * 4
        assert outputs == {digest_of(BIG + b"processes")}
        assert store.get_bytes(digest_of(BIG + b"processes")) == BIG + b"processes"
    for digest in store.hashes():
        assert store.verify(digest) is None
    assert store.get_bytes(digest_of(BIG)) == BIG


def test_delete_unreferenced_keeps_referenced_and_young_blobs(backend: Backend) -> None:
    store = backend.store
    kept, renewed, old = (store.put_bytes(data).hash for data in (b"kept", b"renewed", b"old"))
    assert store.delete_unreferenced(set(), older_than_s=3600) == []
    time.sleep(0.6)
    # Storing bytes that already exist is a fresh reference in the making: it renews the age.
    assert store.put_stream(io.BytesIO(b"renewed")).hash == renewed
    assert store.delete_unreferenced({kept}, older_than_s=0.5) == [old]
    assert sorted(store.hashes()) == sorted([kept, renewed])
    assert store.get_bytes(kept) == b"kept" and not store.exists(old)
    time.sleep(0.01)
    assert store.delete_unreferenced({f"blake3:{kept}"}, older_than_s=0) == [renewed]
    assert list(store.hashes()) == [kept]
