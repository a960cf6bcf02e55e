"""Dataset uploads: stream to storage, validate every row, then record. Never half-way.

One path for both doors (the browser form and ``POST /api/v1/datasets``): the same early
refusal of a body over the limit, the same upload handler that stops reading past it, the
same checks. Every failure removes the spool file before it is reported.

Identical files share one content-addressed file. Moving a file into place and recording its
row, and deleting a row and unlinking a file no row uses any more, both happen under a lock
on the digest (``storage.digest_lock``), so no interleaving of an upload and a delete, in any
teams, leaves a dataset pointing at nothing.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

from django.conf import settings
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.db import transaction

from jobs.data import storage
from jobs.models import Dataset, Team
from trainers.data import DataError, DataReport, inspect_file
from trainers.formats import EXTENSIONS, MB, ReadLimits
from trainers.text_checks import escape_unstorable

ALLOWED_SUFFIXES = set(EXTENSIONS)
MAX_FILENAME = 255  # Dataset.filename
# Room for the multipart envelope around the file (boundaries, headers, the name field).
MULTIPART_SLACK_BYTES = 64 * 1024


class DatasetRejected(ValueError):
    """The upload was refused; ``report`` holds row-level errors when there are any."""

    def __init__(self, message: str, report: DataReport | None = None) -> None:
        super().__init__(message)
        self.report = report


class UploadTooLarge(DatasetRejected):
    """The body is over HONE_MAX_UPLOAD_MB: refused before (or as soon as) it passes the limit."""

    def __init__(self, filename: str = "") -> None:
        limit = storage.human_bytes(settings.HONE_MAX_UPLOAD_BYTES)
        where = f"{safe_filename(filename)}: the file" if filename else "The file"
        super().__init__(f"{where} is larger than the {limit} limit; nothing was stored.")


# --- the door: early refusal and a handler that stops reading ------------------------


class LimitedUploadHandler(TemporaryFileUploadHandler):
    """Stops reading an upload as soon as it passes the limit: a huge file never fills the disk."""

    def receive_data_chunk(self, raw_data: bytes, start: int):
        if start + len(raw_data) > settings.HONE_MAX_UPLOAD_BYTES:
            self.file.close()  # a NamedTemporaryFile: closing removes what was written so far
            raise UploadTooLarge(self.file_name or "")
        return super().receive_data_chunk(raw_data, start)


def limit_upload(request) -> None:
    """Before anything reads the body (CSRF checks do): only LimitedUploadHandler reads it."""
    request.upload_handlers = [LimitedUploadHandler(request)]


def refuse_early(request) -> None:
    """Refuse a body whose Content-Length is over the limit before reading any of it."""
    length = request.META.get("CONTENT_LENGTH") or ""
    if length.isdigit() and int(length) > settings.HONE_MAX_UPLOAD_BYTES + MULTIPART_SLACK_BYTES:
        raise UploadTooLarge()


# --- checking and storing --------------------------------------------------------------


def read_limits() -> ReadLimits:
    return ReadLimits(
        row_bytes=settings.HONE_MAX_ROW_MB * MB,
        cell_bytes=settings.HONE_MAX_CELL_MB * MB,
        decoded_bytes=settings.HONE_MAX_DECODED_MB * MB,
        json_bytes=settings.HONE_MAX_JSON_MB * MB,
    )


def safe_filename(name: str) -> str:
    """The last path component only (an upload's name never chooses where it is stored), at most
    255 characters with its extension kept, without characters that cannot be stored."""
    base = Path(escape_unstorable(name).replace("\\", "/")).name.strip()
    base = "".join(ch for ch in base if unicodedata.category(ch) not in ("Cc", "Cf")) or "upload"
    suffix = Path(base).suffix
    if len(base) > MAX_FILENAME:
        suffix = suffix if len(suffix) <= 16 else ""
        base = base[: MAX_FILENAME - len(suffix)].rstrip() + suffix
    return base


def _hide_paths(text: str, tmp: Path, filename: str) -> str:
    """No absolute server path in what a user reads: the spool file is named as they named it."""
    return text.replace(str(tmp), filename).replace(str(storage.root()), "storage")


def storable(value):
    """The report as PostgreSQL's jsonb can store it: NUL and lone surrogates escaped, keys too."""
    if isinstance(value, str):
        return escape_unstorable(value)
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [storable(item) for item in value]
    return value


def check_upload(upload) -> tuple[Path, str, int, str, DataReport]:
    """Spool and check the whole upload; (spool file, sha256, size, filename, report).

    Raises DatasetRejected; the spool file is gone by then, whatever went wrong."""
    filename = safe_filename(upload.name or "")
    suffix = Path(filename).suffix.lower()
    if suffix not in ALLOWED_SUFFIXES:
        allowed = ", ".join(sorted(ALLOWED_SUFFIXES))
        what = f"type '{suffix}'" if suffix else "without an extension"
        raise DatasetRejected(f"{filename}: files {what} are not supported; use {allowed}")
    try:
        tmp, sha256, size = storage.spool_upload(
            upload.chunks(), max_bytes=settings.HONE_MAX_UPLOAD_BYTES, suffix=suffix
        )
    except storage.UploadTooLarge as exc:
        raise DatasetRejected(f"{filename}: {exc}") from None
    except OSError as exc:  # storage full or failing: the spool file is already removed
        raise DatasetRejected(
            f"{filename}: the server could not store the file ({exc.strerror or exc}); nothing was stored. "
            "Try again later, or ask an operator to free space."
        ) from None
    try:
        report = inspect_file(tmp, filename, limits=read_limits())
    except DataError as exc:
        storage.discard(tmp)
        raise DatasetRejected(storable(_hide_paths(str(exc), tmp, filename))) from None
    except BaseException:
        storage.discard(tmp)
        raise
    if not report.ok:
        storage.discard(tmp)
        bad_rows = report.stats.get("invalid_rows", report.error_count)
        first = report.errors[0] if report.errors else "no usable rows"
        message = f"{filename}: {bad_rows} row(s) have problems (first: {first}); nothing was stored"
        raise DatasetRejected(storable(message), report)
    return tmp, sha256, size, filename, report


def create_dataset(*, team: Team, user, name: str, upload) -> Dataset:
    tmp, sha256, size, filename, report = check_upload(upload)
    try:
        with transaction.atomic(), storage.digest_lock(sha256):
            location = storage.commit_dataset(tmp, sha256, Path(filename).suffix.lower())
            return Dataset.objects.create(
                team=team,
                created_by=user,
                name=escape_unstorable(name or Path(filename).stem)[:200],
                filename=filename,
                location=location,
                sha256=sha256,
                bytes=size,
                format=report.format,
                task=report.task,
                row_count=report.row_count,
                report=storable(report.to_dict()),
            )
    except BaseException:
        _unlink_if_unused(f"datasets/{sha256[:2]}/{sha256}{Path(filename).suffix.lower()}", sha256)
        raise
    finally:
        storage.discard(tmp)  # gone already when it was moved into place


def register_file(*, team: Team, user, name: str, path: Path, produced_by, lineage: dict) -> Dataset:
    """A file a job wrote (a curate job's rows) as a dataset of ``team``: checked row by row like an
    upload, copied into the content-addressed store; ``report["lineage"]`` says where it came from."""
    report = inspect_file(path, path.name, limits=read_limits())
    if not report.ok:
        first = report.errors[0] if report.errors else "no usable rows"
        raise DatasetRejected(f"{path.name}: {first}", report)
    with path.open("rb") as source:
        chunks = iter(lambda: source.read(1 << 20), b"")
        tmp, sha256, size = storage.spool_upload(chunks, max_bytes=path.stat().st_size, suffix=path.suffix)
    try:
        with transaction.atomic(), storage.digest_lock(sha256):
            location = storage.commit_dataset(tmp, sha256, path.suffix.lower())
            return Dataset.objects.create(
                team=team, created_by=user, name=name[:200], filename=path.name, location=location,
                sha256=sha256, bytes=size, format=report.format, task=report.task,
                row_count=report.row_count, report=storable({**report.to_dict(), "lineage": lineage}),
                produced_by=produced_by,
            )
    finally:
        storage.discard(tmp)


def _unlink_if_unused(location: str, sha256: str) -> None:
    with transaction.atomic(), storage.digest_lock(sha256):
        if not Dataset.objects.filter(location=location).exists():
            storage.resolve(location).unlink(missing_ok=True)


def delete_dataset(dataset: Dataset) -> None:
    """Delete the row; unlink the file when no dataset of any team uses it any more.

    ProtectedError when a job used it. The unlink happens after the delete commits, under the
    digest lock, so an upload of the same content either committed its row before (and the
    file stays) or moves the file into place after (and it is there again)."""
    location, sha256 = dataset.location, dataset.sha256
    with transaction.atomic():
        dataset.delete()
    _unlink_if_unused(location, sha256)
