"""Artifact downloads: a file as it is, a directory (an adapter) as a zip built on the fly.

The zip is written to a spooled temporary file, which moves from memory to disk once it
grows past ``SPOOL_MAX_BYTES``, so a large artifact never sits whole in memory.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

from django.http import FileResponse, Http404
from django.utils.text import slugify

from jobs.data import storage
from jobs.models import Artifact

SPOOL_MAX_BYTES = 8 * 1024 * 1024


def artifact_files(directory: Path) -> list[Path]:
    """Every regular file under ``directory``, in a stable order; links leading out of it are skipped."""
    root = directory.resolve()
    found = []
    for folder, subfolders, names in os.walk(root):
        subfolders.sort()
        for name in sorted(names):
            path = Path(folder) / name
            if path.is_file() and path.resolve().is_relative_to(root):
                found.append(path)
    return found


def zip_directory(directory: Path) -> tempfile.SpooledTemporaryFile:
    """A zip of ``directory``'s files (paths relative to it), rewound and ready to read."""
    root = directory.resolve()
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX_BYTES)  # noqa: SIM115 (the response closes it)
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in artifact_files(root):
            archive.write(path, arcname=str(path.relative_to(root)))
    spool.seek(0)
    return spool


def artifact_response(artifact: Artifact) -> FileResponse:
    """A download of the artifact's files; 404 when they are gone or lie outside storage."""
    try:
        path = storage.resolve(artifact.location)
    except ValueError:
        raise Http404("This artifact's location is not in Hone's storage.") from None
    if path.is_dir():
        filename = f"{slugify(artifact.job.name) or 'job'}-{slugify(artifact.name) or 'artifact'}.zip"
        return FileResponse(zip_directory(path), as_attachment=True, filename=filename)
    if path.is_file():
        return FileResponse(path.open("rb"), as_attachment=True, filename=path.name)
    raise Http404("This artifact's files are no longer in storage.")
