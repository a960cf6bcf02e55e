"""``files`` through the official client: an upload is a checked Hone dataset; a bad file is an
OpenAI-shaped 400 naming the line and field, and nothing is stored."""

from __future__ import annotations

import io

import openai
import pytest

from jobs.models import Dataset
from tests.openai_compat.conftest import chat_rows, jsonl, preference_rows


def upload(client: openai.OpenAI, data: bytes, name: str = "train.jsonl"):
    return client.files.create(file=(name, io.BytesIO(data)), purpose="fine-tune")


def test_a_chat_file_becomes_a_checked_dataset_listed_read_and_deleted(client, team) -> None:
    data = jsonl(chat_rows(10))
    file = upload(client, data)
    dataset = Dataset.objects.get(pk=int(file.id.removeprefix("file-")))
    assert (dataset.team, dataset.task, dataset.row_count) == (team, "chat", 10)
    assert (file.object, file.purpose, file.status, file.bytes, file.filename) == (
        "file", "fine-tune", "processed", len(data), "train.jsonl"
    )  # fmt: skip
    assert [f.id for f in client.files.list()] == [file.id]
    assert client.files.retrieve(file.id).bytes == len(data)
    assert client.files.content(file.id).read() == data
    assert client.files.delete(file.id).deleted is True
    assert not Dataset.objects.exists()
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(file.id)


def test_openai_preference_format_becomes_prompt_chosen_rejected_rows(client) -> None:
    file = upload(client, jsonl(preference_rows(6)), "prefs.jsonl")
    dataset = Dataset.objects.get(pk=int(file.id.removeprefix("file-")))
    assert (dataset.task, dataset.row_count) == ("preference", 6)
    first = preference_rows(1)[0]
    assert dataset.report["preview"][0]["chosen"] == first["preferred_output"][0]["content"]


def test_a_bad_chat_file_is_refused_naming_line_and_field(client) -> None:
    rows = chat_rows(4)
    rows[2]["messages"][1]["role"] = "robot"
    with pytest.raises(openai.BadRequestError) as caught:
        upload(client, jsonl(rows))
    error = caught.value.body
    assert caught.value.status_code == 400
    assert (
        error["param"] == "file"
        and error["code"] == "invalid_file"
        and error["type"] == "invalid_request_error"
    )
    assert "line 3" in error["message"] and "messages[1].role" in error["message"], error["message"]
    assert not Dataset.objects.exists()


def test_a_bad_preference_file_names_each_line_and_field(client) -> None:
    rows = preference_rows(3)
    rows[1]["preferred_output"] = [{"role": "user", "content": "x"}]
    rows[2]["input"]["messages"].append({"role": "assistant", "content": "earlier"})
    with pytest.raises(openai.BadRequestError) as caught:
        upload(client, jsonl(rows))
    message = caught.value.body["message"]
    assert "line 2, preferred_output" in message and "line 3, input.messages" in message, message
    assert not Dataset.objects.exists()


def test_other_purposes_and_missing_files_are_refused(client) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.files.create(file=("a.jsonl", io.BytesIO(jsonl(chat_rows(2)))), purpose="assistants")
    assert caught.value.body["param"] == "purpose"
    with pytest.raises(openai.BadRequestError) as caught:
        upload(client, b"not json at all\n")
    assert "line 1" in caught.value.body["message"]
    assert not Dataset.objects.exists()


def test_another_teams_file_is_not_found(client, outsider_client) -> None:
    file = upload(client, jsonl(chat_rows(3)))
    for call in (outsider_client.files.retrieve, outsider_client.files.content, outsider_client.files.delete):
        with pytest.raises(openai.NotFoundError) as caught:
            call(file.id)
        assert caught.value.body["code"] == "file_not_found"
    assert list(outsider_client.files.list()) == []
    assert Dataset.objects.count() == 1


def test_viewers_read_but_cannot_upload_and_bad_keys_are_refused(client, viewer_client, live_server) -> None:
    file = upload(client, jsonl(chat_rows(3)))
    assert viewer_client.files.retrieve(file.id).id == file.id
    with pytest.raises(openai.PermissionDeniedError):
        upload(viewer_client, jsonl(chat_rows(3)))
    with (
        openai.OpenAI(
            api_key="hone_pat_nope", base_url=f"{live_server.url}/openai/v1", max_retries=0
        ) as stranger,
        pytest.raises(openai.AuthenticationError) as caught,
    ):
        stranger.files.list()
    assert caught.value.body["type"] == "authentication_error"


def test_listing_pages_with_after_and_limit(client) -> None:
    made = [upload(client, jsonl(chat_rows(2 + i))).id for i in range(3)]
    first = client.files.list(limit=2)
    assert [f.id for f in first.data] == made[::-1][:2] and first.has_more
    assert [f.id for f in client.files.list(limit=2, after=first.data[-1].id).data] == [made[0]]
    assert [f.id for f in client.files.list(limit=1)] == made[::-1]  # the client walks the pages


def test_the_apis_rate_limit_applies(client, settings) -> None:
    settings.HONE_API_RATE = "2/min"
    client.files.list()
    client.files.list()
    with pytest.raises(openai.RateLimitError) as caught:
        client.files.list()
    assert caught.value.body["type"] == "rate_limit_error"
    assert int(caught.value.response.headers["Retry-After"]) >= 1
