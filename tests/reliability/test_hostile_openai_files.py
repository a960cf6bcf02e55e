"""The hostile upload corpus through the third upload door, ``POST /openai/v1/files``: OpenAI's
preference and reinforcement files are sniffed and rewritten before Hone's own checks, so those
steps must hold to the same limits (a row over HONE_MAX_ROW_MB is refused before it is parsed),
refuse with the problem named, never answer 5xx, and leave storage byte-for-byte as it was."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs.models import Dataset
from tests.api.helpers import client_for
from tests.reliability.test_hostile_uploads import HOSTILE, MB, snapshot

PREFERENCE = {
    "input": {"messages": [{"role": "user", "content": "Say hi"}]},
    "preferred_output": [{"role": "assistant", "content": "Hi!"}],
    "non_preferred_output": [{"role": "assistant", "content": "No."}],
}
REINFORCEMENT = {"messages": [{"role": "user", "content": "2+2?"}], "answer": "4"}


@pytest.fixture
def tight_limits(settings):
    settings.HONE_MAX_ROW_MB = settings.HONE_MAX_CELL_MB = settings.HONE_MAX_JSON_MB = 1
    settings.HONE_MAX_DECODED_MB = 2
    settings.HONE_API_RATE = "100000/min"


def refusal(response) -> str:
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:500])
    return response.json()["error"]["message"]


def upload(member, team, filename: str, content: bytes):
    return client_for(member, team).post(
        "/openai/v1/files",
        {"purpose": "fine-tune", "file": SimpleUploadedFile(filename, content)},
        format="multipart",
    )


@pytest.mark.parametrize("case, filename, content, words", HOSTILE, ids=[c[0] for c in HOSTILE])
def test_a_hostile_file_is_refused_by_the_openai_door_and_leaves_storage_as_it_was(
    member, team, dataset, _storage, tight_limits, case, filename, content, words
):
    before = snapshot(_storage)
    message = refusal(upload(member, team, filename, content))
    for word in words:
        assert word in message, f"{case}: {word!r} not in {message!r}"
    assert str(_storage) not in message and "/tmp/" not in message, message
    assert Dataset.objects.count() == 1  # the fixture's only
    assert snapshot(_storage) == before


def _huge_first_line(row: dict) -> bytes:
    bloated = dict(row, padding="x" * (3 * MB))
    return (json.dumps(bloated) + "\n").encode()


@pytest.mark.parametrize(
    "first",
    [PREFERENCE, REINFORCEMENT, {"messages": [{"role": "user", "content": "hi"}]}],
    ids=["preference", "reinforcement", "chat"],
)
def test_a_first_line_over_the_row_limit_is_refused_naming_the_limit(
    member, team, _storage, tight_limits, first
):
    before = snapshot(_storage)
    message = refusal(upload(member, team, "big.jsonl", _huge_first_line(first)))
    assert "line 1" in message and "HONE_MAX_ROW_MB" in message, message
    assert not Dataset.objects.exists()
    assert snapshot(_storage) == before


@pytest.mark.parametrize("row", [PREFERENCE, REINFORCEMENT], ids=["preference", "reinforcement"])
def test_a_later_line_over_the_row_limit_is_refused_naming_it(member, team, _storage, tight_limits, row):
    before = snapshot(_storage)
    content = (json.dumps(row) + "\n").encode() + _huge_first_line(row)
    message = refusal(upload(member, team, "big.jsonl", content))
    assert "line 2" in message and "HONE_MAX_ROW_MB" in message, message
    assert not Dataset.objects.exists()
    assert snapshot(_storage) == before


@pytest.mark.parametrize("row", [PREFERENCE, REINFORCEMENT], ids=["preference", "reinforcement"])
def test_a_nul_or_lone_surrogate_in_a_translated_file_is_refused(member, team, _storage, tight_limits, row):
    before = snapshot(_storage)
    good = json.dumps(row)
    bad = good.replace("Say hi", "Say \\u0000hi").replace("2+2?", "2+2\\ud800?")
    message = refusal(upload(member, team, "t.jsonl", (good + "\n" + bad + "\n").encode()))
    assert "line 2" in message, message
    assert not Dataset.objects.exists()
    assert snapshot(_storage) == before
