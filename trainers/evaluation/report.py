"""Reports and artifacts: what an evaluation leaves behind for the platform and the person reading it.

An artifact's ``sha256`` is the file's digest; for a directory it is the digest of its listing,
one ``relative/path<TAB>sha256`` line per file in sorted order, so any changed file changes it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

from trainers.data import file_sha256
from trainers.events import EventEmitter

REPORT_VERSION = 1


def path_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def artifact_digest(path: Path) -> str:
    if path.is_file():
        return file_sha256(path)
    listing = "".join(
        f"{f.relative_to(path).as_posix()}\t{file_sha256(f)}\n"
        for f in sorted(path.rglob("*"))
        if f.is_file()
    )
    return hashlib.sha256(listing.encode("utf-8")).hexdigest()


def emit_artifact(emitter: EventEmitter, name: str, artifact_kind: str, path: Path) -> None:
    for f in [path, *path.rglob("*")] if path.is_dir() else [path]:
        if f.is_file():
            f.chmod(0o644)  # safetensors writes 0600; the web and worker pods may run as other users
    emitter.artifact(
        name=name,
        artifact_kind=artifact_kind,
        location=str(path.resolve()),
        bytes=path_size(path),
        sha256=artifact_digest(path),
    )


def write_report(path: Path, kind: str, body: dict) -> Path:
    """``report.json``: the version, kind and time, then ``body`` (plain JSON values; NaN becomes null)."""
    report = {"version": REPORT_VERSION, "kind": kind, "created_at": _now(), **body}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_finite(report), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _finite(value: object) -> object:
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
