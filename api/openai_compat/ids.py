"""OpenAI-style ids for Hone's records, and back: ``file-12`` is dataset 12, ``ftjob-7`` is job 7,
``ftevent-<n>`` an event, ``ftckpt-<n>`` a checkpoint event. Model ids are
``ft:<base>:<team>:<suffix>:<model id>`` for a fine-tune (a job's output) and
``<name>-<model id>`` for any other model; the number at the end is always Hone's model id, so an
id never has to be unique by name to be found."""

from __future__ import annotations

import re
from datetime import datetime

from django.utils.text import slugify

from jobs.models import ModelAsset

PREFIXES = {"file": "file-", "job": "ftjob-", "event": "ftevent-", "checkpoint": "ftckpt-"}
TRAILING_ID = re.compile(r"[-:](\d{1,18})$")


def of(kind: str, pk: int) -> str:
    return f"{PREFIXES[kind]}{pk}"


def parse(kind: str, value: str) -> int | None:
    """The record's id in ``value`` (``file-12`` → 12), None when it is not one of ``kind``."""
    prefix = PREFIXES[kind]
    if not isinstance(value, str) or not value.startswith(prefix):
        return None
    number = value[len(prefix) :]
    return int(number) if number.isdigit() and len(number) <= 18 else None


def timestamp(value: datetime | None) -> int | None:
    """OpenAI's times: whole seconds since the epoch."""
    return int(value.timestamp()) if value is not None else None


def _part(text: str) -> str:
    return slugify(text)[:40] or "model"


def model_id(model: ModelAsset, *, suffix: str | None = None) -> str:
    """The id the API shows for ``model``; ``suffix`` is the fine-tuning job's, when it has one."""
    if model.source == ModelAsset.Source.JOB and model.produced_by_id:
        base = model.adapter_base or model
        team = model.team.slug if model.team_id else ""
        return f"ft:{_part(base.name)}:{team}:{slugify(suffix or '')[:40]}:{model.pk}"
    return f"{_part(model.name)}-{model.pk}"


def model_pk(value: str) -> int | None:
    """The Hone model id at the end of an id this API made (``…:12`` or ``…-12``)."""
    found = TRAILING_ID.search(value or "")
    return int(found.group(1)) if found else None
