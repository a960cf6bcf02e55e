"""Which executor this installation uses (HONE_EXECUTOR)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from django.conf import settings

from jobs.executors.base import Executor


def current() -> Executor:
    if settings.HONE_EXECUTOR == "kubernetes":
        from jobs.executors import kubernetes

        return kubernetes.build(kubernetes.KubeSettings.from_django())  # cached by every setting it reads
    return _build(settings.HONE_EXECUTOR, str(settings.HONE_STORAGE), settings.HONE_TRAINER_PYTHON or None)


@cache
def _build(name: str, storage: str, python: str | None) -> Executor:
    if name == "local":
        from jobs.executors.local import LocalExecutor

        return LocalExecutor(Path(storage), python)
    raise ValueError(f"unknown executor {name!r}; known: local, kubernetes")
