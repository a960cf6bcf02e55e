"""Dataset uploads: stream to storage, validate every row, then record. Never half-way."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import transaction

from jobs.data import storage
from jobs.models import Dataset, Team
from trainers.data import DataError, DataReport, inspect_file

ALLOWED_SUFFIXES = {".jsonl", ".ndjson", ".json", ".csv", ".parquet"}


class DatasetRejected(ValueError):
    """The upload was refused; ``report`` holds row-level errors when there are any."""

    def __init__(self, message: str, report: DataReport | None = None) -> None:
        super().__init__(message)
        self.report = report


def safe_filename(name: str) -> str:
    """The last path component only: an upload's name never chooses where it is stored."""
    base = Path(name.replace("\\", "/")).name.strip()
    return base[:200] or "upload"


def create_dataset(*, team: Team, user, name: str, upload) -> Dataset:
    filename = safe_filename(upload.name)
    suffix = Path(filename).suffix.lower()
    if suffix not in ALLOWED_SUFFIXES:
        allowed = ", ".join(sorted(ALLOWED_SUFFIXES))
        raise DatasetRejected(
            f"{filename}: files of type '{suffix or 'none'}' are not supported; use {allowed}"
        )
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
        report = inspect_file(tmp, filename)
    except DataError as exc:
        storage.discard(tmp)
        raise DatasetRejected(str(exc)) from None
    if not report.ok:
        storage.discard(tmp)
        bad_rows = report.stats.get("invalid_rows", report.error_count)
        first = report.errors[0] if report.errors else "no usable rows"
        raise DatasetRejected(
            f"{filename}: {bad_rows} row(s) have problems (first: {first}); nothing was stored", report
        )
    location = storage.commit_dataset(tmp, sha256, suffix)
    with transaction.atomic():
        return Dataset.objects.create(
            team=team,
            created_by=user,
            name=name or Path(filename).stem,
            filename=filename,
            location=location,
            sha256=sha256,
            bytes=size,
            format=report.format,
            task=report.task,
            row_count=report.row_count,
            report=report.to_dict(),
        )
