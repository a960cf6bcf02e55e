"""Files under HONE_STORAGE: content-addressed datasets and per-job run directories."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

# pg_advisory_xact_lock(classid, objid): the first key says "a dataset file", the second which.
DIGEST_LOCK_CLASS = 0x486F6E65  # "Hone"


class UploadTooLarge(ValueError):
    pass


def root() -> Path:
    return Path(settings.HONE_STORAGE)


def resolve(location: str) -> Path:
    """The absolute path of a stored location; refuses anything outside storage."""
    path = (root() / location).resolve()
    if not path.is_relative_to(root().resolve()):
        raise ValueError(f"{location!r} is outside Hone's storage")
    return path


def relative(path: str | Path) -> str:
    """A location under storage for an absolute path; refuses paths outside it."""
    resolved = Path(path).resolve()
    if not resolved.is_relative_to(root().resolve()):
        raise ValueError(f"{path} is outside Hone's storage")
    return str(resolved.relative_to(root().resolve()))


def human_bytes(n: float) -> str:
    if n < 1024:
        return f"{int(n)} bytes"
    for unit in ("KB", "MB", "GB"):
        n /= 1024
        if n < 1024 or unit == "GB":
            break
    return f"{n:.1f} {unit}".replace(".0 ", " ")


def spool_upload(chunks, *, max_bytes: int, suffix: str = "") -> tuple[Path, str, int]:
    """Stream an upload to a temporary file under storage, hashing as it goes.

    Returns (temporary path, sha256, size). The caller validates the file, then
    ``commit_dataset`` moves it into place, or ``discard`` removes it: nothing is left
    half-written either way.
    """
    tmp_dir = root() / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=tmp_dir, suffix=suffix)
    digest, size = hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise UploadTooLarge(f"the file is larger than the {human_bytes(max_bytes)} limit")
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name), digest.hexdigest(), size


def commit_dataset(tmp_path: Path, sha256: str, extension: str) -> str:
    location = f"datasets/{sha256[:2]}/{sha256}{extension}"
    final = root() / location
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp_path, final)  # same content, same name: a re-upload overwrites identically
    return location


@contextmanager
def digest_lock(sha256: str) -> Iterator[None]:
    """Exclusive use of the content-addressed file ``sha256`` until the transaction ends.

    PostgreSQL: a transaction-scoped advisory lock (every web process and worker, any host).
    Elsewhere (the embedded SQLite default, one machine): an flock on a file under storage,
    held for the block; SQLite's IMMEDIATE transactions serialise writers there as well."""
    if not connection.in_atomic_block:
        raise RuntimeError("digest_lock needs a transaction (transaction.atomic)")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [DIGEST_LOCK_CLASS, int(sha256[:7], 16)])
        yield
        return
    lock_dir = root() / "tmp"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with (lock_dir / ".dataset-files.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def discard(tmp_path: Path) -> None:
    tmp_path.unlink(missing_ok=True)


def tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
