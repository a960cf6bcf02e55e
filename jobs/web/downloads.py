"""Artifact downloads, for the browser and the API alike, with HTTP Range (resume a broken
download, or fetch just a part).

A file is served as it is. A directory (an adapter, a checkpoint) is served as a zip, built
once into ``storage/cache/artifact-zips/`` and kept: the bytes of a download must not change
between two Range requests, and an artifact does not change once its job has made it.
"""

from __future__ import annotations

import os
import re
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.http import Http404, HttpRequest, StreamingHttpResponse
from django.utils.http import content_disposition_header
from django.utils.text import slugify

from jobs.data import storage
from jobs.models import Artifact

CHUNK_BYTES = 256 * 1024
RANGE = re.compile(r"^bytes=([0-9]*)-([0-9]*)$")
# More digits than any file size has: a position past the end of every file (and int() of
# more than 4,300 digits raises ValueError, a 500).
MAX_DIGITS = 18
BEYOND = 10**MAX_DIGITS


class Unsatisfiable(ValueError):
    def __init__(self, size: int) -> None:
        super().__init__(f"the range is outside the file's {size} bytes")
        self.size = size


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


@dataclass(frozen=True)
class Download:
    path: Path
    filename: str
    content_type: str
    etag: str


def zip_path(artifact: Artifact) -> Path:
    return storage.root() / "cache" / "artifact-zips" / f"{artifact.pk}-{artifact.sha256[:16]}.zip"


def cached_zip(artifact: Artifact, directory: Path) -> Path:
    """The artifact's zip, built now if it is not built yet (atomically: no half-written zips)."""
    target = zip_path(artifact)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, suffix=".part")
    try:
        with (
            os.fdopen(fd, "wb") as out,
            zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        ):
            for path in artifact_files(directory):
                archive.write(path, arcname=str(path.relative_to(directory.resolve())))
        os.replace(name, target)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return target


def prepare(artifact: Artifact) -> Download:
    try:
        path = storage.resolve(artifact.location)
    except ValueError:
        raise Http404("This artifact's location is not in Hone's storage.") from None
    if path.is_dir():
        name = f"{slugify(artifact.job.name) or 'job'}-{slugify(artifact.name) or 'artifact'}.zip"
        served = cached_zip(artifact, path)
        content_type = "application/zip"
    elif path.is_file():
        name, served = path.name, path
        content_type = "application/octet-stream"
    else:
        raise Http404("This artifact's files are no longer in storage.")
    stat = served.stat()
    etag = f'"{artifact.pk}-{stat.st_size:x}-{int(stat.st_mtime):x}"'
    return Download(served, name, content_type, etag)


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single ``bytes=`` range; None to send the whole file.

    Several ranges, or a header we do not understand, get the whole file (as RFC 9110
    allows); a range that starts past the end raises Unsatisfiable."""
    match = RANGE.match(header.strip())
    if not match or match.groups() == ("", ""):
        return None
    first, last = (_position(text) for text in match.groups())
    if first is None:  # the last N bytes
        if last == 0:
            raise Unsatisfiable(size)
        return max(size - last, 0), size - 1
    if first >= size or (last is not None and last < first):
        raise Unsatisfiable(size)
    return first, min(last, size - 1) if last is not None else size - 1


def _position(text: str) -> int | None:
    """A byte position of a Range header; BEYOND for one longer than any file."""
    if text == "":
        return None
    digits = text.lstrip("0") or "0"
    return BEYOND if len(digits) > MAX_DIGITS else int(digits)


def _read(path: Path, start: int, length: int) -> Iterator[bytes]:
    with path.open("rb") as fh:
        fh.seek(start)
        while length > 0:
            chunk = fh.read(min(CHUNK_BYTES, length))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk


def serve(request: HttpRequest, artifact: Artifact) -> StreamingHttpResponse:
    """The artifact's download for both doors (API and browser); raises Unsatisfiable, Http404."""
    return response(request, prepare(artifact))


def response(request: HttpRequest, download: Download) -> StreamingHttpResponse:
    """200 with the whole file, or 206 with the range asked for; raises Unsatisfiable."""
    size = download.path.stat().st_size
    wanted = None
    if_range = request.headers.get("If-Range")
    if "Range" in request.headers and (if_range is None or if_range == download.etag):
        wanted = parse_range(request.headers["Range"], size)
    start, end = wanted if wanted else (0, size - 1)
    length = max(end - start + 1, 0)
    reply = StreamingHttpResponse(
        _read(download.path, start, length), status=206 if wanted else 200, content_type=download.content_type
    )
    reply["Content-Length"] = str(length)
    reply["Accept-Ranges"] = "bytes"
    reply["ETag"] = download.etag
    reply["Content-Disposition"] = content_disposition_header(True, download.filename)
    if wanted:
        reply["Content-Range"] = f"bytes {start}-{end}/{size}"
    return reply
