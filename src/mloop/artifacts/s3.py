"""Blobs in an S3 bucket, or any S3-compatible store (MinIO, Ceph, Cloudflare R2): ``s3://BUCKET/PREFIX``.

Keys are ``PREFIX/blobs/ab/cdef…`` by hash, as in a local store. A blob is spooled to a local
temporary file while it is hashed, then uploaded under its hash: S3 makes an object visible only
once its upload (multipart or not) completes, so a writer killed part way leaves no blob, at most
an incomplete multipart upload that a bucket lifecycle rule aborts. Two writers of the same bytes
upload the same object; either upload leaves it whole.

The age a collector spares (``delete_unreferenced``) is the client's clock written into the
object's metadata (``mloop-written``) on every store, renewed by an in-place copy when the bytes
were there already: S3's ``LastModified`` has one-second resolution and is the server's clock.

Credentials, region and endpoint come from boto3's usual chain: ``AWS_ACCESS_KEY_ID``/
``AWS_SECRET_ACCESS_KEY`` or a profile, ``AWS_REGION``, and ``AWS_ENDPOINT_URL`` (or
``AWS_ENDPOINT_URL_S3``) for a store that is not AWS. ``local_path`` keeps verified copies in a
cache folder beside the workspace's store (``.mloop/blob-cache``).
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import blake3

from mloop.artifacts.base import (
    CHUNK,
    BlobProblem,
    BlobRef,
    Readable,
    checked_digest,
    iter_verified,
    missing_blob,
    tampered_blob,
    verifying_reader,
)
from mloop.artifacts.local import rehash
from mloop.errors import IntegrityError, InvalidInput, NotFound
from mloop.hashing import hash_bytes, strip

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

WRITTEN = "mloop-written"  # x-amz-meta-mloop-written: the client's time.time() at the last store
# kept in memory up to this size while hashing; larger blobs spill to a temporary file
SPOOL_IN_MEMORY = 8 << 20


def import_boto3() -> Any:
    try:
        import boto3
    except ImportError:
        raise InvalidInput(
            "s3:// artifact stores need boto3; install mloop[s3] (pip install 'mloop[s3]')."
        ) from None
    return boto3


def parse_s3_url(url: str) -> tuple[str, str]:
    """(bucket, prefix) of ``s3://BUCKET[/PREFIX]``; ``InvalidInput`` without a bucket."""
    rest = url[len("s3://") :] if url.startswith("s3://") else url
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise InvalidInput(
            f"Artifact URL {url!r} names no bucket; write s3://BUCKET or s3://BUCKET/PREFIX."
        )
    return bucket, prefix.strip("/")


class _Body(io.RawIOBase):
    """A boto3 response body as the raw stream ``verifying_reader`` wraps."""

    def __init__(self, body: Any) -> None:
        super().__init__()
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self._body.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


class S3ArtifactStore:
    def __init__(self, bucket: str, prefix: str, *, cache: Path, client: Any = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.cache = Path(cache)
        self.client = client if client is not None else import_boto3().client("s3")
        self._base = f"{self.prefix}/blobs/" if self.prefix else "blobs/"

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def _key(self, digest: str) -> str:
        digest = checked_digest(digest)
        return f"{self._base}{digest[:2]}/{digest[2:]}"

    def _errors(self, exc: Exception) -> Exception:
        """One sentence for what a user can fix: the bucket, the credentials, the endpoint."""
        code = _code(exc)
        if code == "NoSuchBucket":
            return self._no_bucket()
        if code in {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"}:
            return InvalidInput(
                f"The artifact store {self.url} refused these credentials ({code}); check "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE."
            )
        if type(exc).__name__ in {"EndpointConnectionError", "ConnectTimeoutError"}:
            return InvalidInput(
                f"Could not reach the artifact store {self.url} ({exc}); check AWS_ENDPOINT_URL "
                "and the network."
            )
        return exc

    def _no_bucket(self) -> InvalidInput:
        return InvalidInput(
            f"Bucket {self.bucket!r} does not exist ({self.url}); create it, or fix "
            "[artifacts] url in mloop.toml or MLOOP_ARTIFACTS."
        )

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            mapped = self._errors(exc)
            if mapped is exc:
                raise
            raise mapped from exc

    def check(self) -> None:
        """The bucket is there and these credentials may use it: ``mloop init`` says so at
        once rather than at the first command that stores something."""
        try:
            with self._translated():
                self.client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            if _absent(exc):
                raise self._no_bucket() from None
            raise

    def _renew(self, key: str) -> bool:
        """Mark existing bytes as just written (see the module docstring); False when absent."""
        try:
            with self._translated():
                self.client.copy(
                    {"Bucket": self.bucket, "Key": key},
                    self.bucket,
                    key,
                    ExtraArgs={"Metadata": _stamp(), "MetadataDirective": "REPLACE"},
                )
        except Exception as exc:
            if _absent(exc):
                return False
            raise
        return True

    def _publish(self, spooled: BinaryIO, digest: str, size: int) -> BlobRef:
        key = self._key(digest)
        if self._renew(key):
            return BlobRef(digest, size)
        spooled.seek(0)
        with self._translated():
            self.client.upload_fileobj(spooled, self.bucket, key, ExtraArgs={"Metadata": _stamp()})
        return BlobRef(digest, size)

    def put_stream(self, readable: Readable) -> BlobRef:
        hasher = blake3.blake3()
        size = 0
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spooled:
            while chunk := readable.read(CHUNK):
                hasher.update(chunk)
                spooled.write(chunk)
                size += len(chunk)
            # the hash is of the very bytes uploaded: a source changing meanwhile cannot leave
            # a blob whose bytes differ from its name
            return self._publish(spooled, hasher.hexdigest(), size)  # type: ignore[arg-type]

    def put_file(self, path: Path) -> BlobRef:
        with Path(path).open("rb") as source:
            return self.put_stream(source)

    def put_bytes(self, data: bytes) -> BlobRef:
        digest = hash_bytes(data)
        key = self._key(digest)
        if not self._renew(key):
            with self._translated():
                self.client.put_object(Bucket=self.bucket, Key=key, Body=data, Metadata=_stamp())
        return BlobRef(digest, len(data))

    def exists(self, digest: str) -> bool:
        return self._head(self._key(digest)) is not None

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            with self._translated():
                head: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if _absent(exc):
                return None
            raise
        return head

    def _missing(self, digest: str) -> NotFound:
        return missing_blob(digest, self.url, "URL")

    def _tampered(self, digest: str, actual: str) -> IntegrityError:
        return tampered_blob(digest, actual)

    def _body(self, digest: str) -> Any:
        try:
            with self._translated():
                answer = self.client.get_object(Bucket=self.bucket, Key=self._key(digest))
        except Exception as exc:
            if _absent(exc):
                raise self._missing(digest) from None
            raise
        return answer["Body"]

    def open_blob(self, digest: str) -> BinaryIO:
        raw = _Body(self._body(digest))
        return verifying_reader(raw, strip(digest), lambda actual: self._tampered(digest, actual))

    def iter_blob(self, digest: str) -> Iterator[bytes]:
        return iter_verified(self.open_blob(digest))

    def get_bytes(self, digest: str) -> bytes:
        body = self._body(digest)
        try:
            data: bytes = body.read()
        finally:
            body.close()
        actual = hash_bytes(data)
        if actual != strip(digest):
            raise self._tampered(digest, actual)
        return data

    def local_path(self, digest: str) -> Path:
        """A verified copy in the cache folder, downloaded once and re-hashed on every call."""
        digest = checked_digest(digest)
        path = self.cache / digest[:2] / digest[2:]
        if path.exists() and rehash(path) == digest:
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out, self.open_blob(digest) as source:
                shutil.copyfileobj(source, out, length=CHUNK)
            os.replace(name, path)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        return path

    def hashes(self) -> Iterator[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self._base
        )
        found = []
        with self._translated():
            for page in pages:
                for item in page.get("Contents", []):
                    head, _, tail = item["Key"][len(self._base) :].partition("/")
                    if len(head) == 2 and len(tail) == 62:
                        found.append(head + tail)
        yield from sorted(found)

    def verify(self, digest: str) -> BlobProblem | None:
        try:
            with self.open_blob(digest) as reader:
                while reader.read(CHUNK):
                    pass
        except NotFound:
            return BlobProblem(strip(digest), "missing")
        except IntegrityError:
            return BlobProblem(strip(digest), "hash mismatch")
        return None

    def _written(self, key: str) -> float | None:
        head = self._head(key)
        if head is None:
            return None
        stamp = head.get("Metadata", {}).get(WRITTEN)
        try:
            return float(stamp)
        except (TypeError, ValueError):  # written by another tool: the server's time
            return float(head["LastModified"].timestamp())

    def delete_unreferenced(self, keep: set[str], *, older_than_s: float) -> list[str]:
        cutoff = time.time() - older_than_s
        keep = {strip(digest) for digest in keep}
        deleted = []
        for digest in self.hashes():
            if digest in keep:
                continue
            key = self._key(digest)
            written = self._written(key)
            if written is None or written >= cutoff:  # gone already, or young
                continue
            with self._translated():
                self.client.delete_object(Bucket=self.bucket, Key=key)
            deleted.append(digest)
        return deleted


def _stamp() -> dict[str, str]:
    return {WRITTEN: repr(time.time())}


def _absent(exc: Exception) -> bool:
    return _code(exc) in {"404", "NoSuchKey", "NotFound"}


def _code(exc: Exception) -> str:
    """The error code of a botocore ``ClientError`` (``NoSuchKey``, ``404``…), else ''."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""
