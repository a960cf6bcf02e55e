"""Dataset pages: list, upload (with row-level errors), detail."""

from __future__ import annotations

import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs.data import storage
from jobs.models import Dataset
from tests.conftest import jsonl_bytes


def upload(client, filename: str, content: bytes, name: str = ""):
    return client.post("/datasets/new/", {"name": name, "file": SimpleUploadedFile(filename, content)})


def stored_files() -> list:
    return [p for folder in ("datasets", "tmp") for p in (storage.root() / folder).rglob("*") if p.is_file()]


def test_it_uploads_a_jsonl_file_and_lists_it(client, member, team, demo_rows):
    client.force_login(member)
    response = upload(client, "demo.jsonl", jsonl_bytes(demo_rows), name="Support answers")
    dataset = Dataset.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/datasets/{dataset.pk}/"
    assert (dataset.team, dataset.name, dataset.format, dataset.task) == (
        team,
        "Support answers",
        "jsonl",
        "instruction",
    )
    assert dataset.row_count == len(demo_rows)
    body = client.get("/datasets/").content.decode()
    assert "Support answers" in body
    assert f'href="/datasets/{dataset.pk}/"' in body


def test_it_uploads_a_csv_file(client, member):
    client.force_login(member)
    content = b"instruction,output\nSay hi,Hi!\nSay bye,Bye!\n"
    response = upload(client, "pairs.csv", content)
    dataset = Dataset.objects.get()
    assert response.status_code == 302
    assert (dataset.name, dataset.format, dataset.task, dataset.row_count) == (
        "pairs",
        "csv",
        "instruction",
        2,
    )


BAD_UPLOADS = {
    "malformed_jsonl": (
        "broken.jsonl",
        b'{"instruction": "a", "output": "b"}\n{"instruction": "a", "output": \n',
        ["broken.jsonl", '<td class="num">2</td>', "invalid JSON"],
    ),
    "missing_field": (
        "partial.jsonl",
        b'{"instruction": "a", "output": "b"}\n{"instruction": "c"}\n',
        ["partial.jsonl", '<td class="num">2</td>', "<code>output</code>", "missing"],
    ),
    "empty_file": ("empty.jsonl", b"", ["empty.jsonl", "the file is empty"]),
    "not_utf8": (
        "latin.jsonl",
        '{"instruction": "café", "output": "b"}\n'.encode("latin-1"),
        ["latin.jsonl", "line 1", "not UTF-8"],
    ),
    "unsupported_type": ("notes.docx", b"PK\x03\x04", ["notes.docx", "not supported"]),
}


@pytest.mark.parametrize("case", BAD_UPLOADS, ids=list(BAD_UPLOADS))
def test_it_rejects_a_bad_file_and_stores_nothing(client, member, case):
    filename, content, expected = BAD_UPLOADS[case]
    client.force_login(member)
    response = upload(client, filename, content)
    assert response.status_code == 200
    body = response.content.decode()
    for fragment in expected:
        assert fragment in body
    assert 'id="id_file_error"' in body  # the message sits next to the file field
    assert not Dataset.objects.exists()
    assert stored_files() == []


def test_it_lists_row_errors_with_line_field_and_count(client, member):
    client.force_login(member)
    rows = [{"instruction": "ok", "output": "ok"}] + [{"instruction": f"q{i}"} for i in range(3)]
    body = upload(client, "gaps.jsonl", jsonl_bytes(rows)).content.decode()
    assert "3 problems in gaps.jsonl" in body
    assert '<th scope="col" class="num">Line</th>' in body
    for line in (2, 3, 4):
        assert re.search(rf'<td class="num">{line}</td>\s*<td><code>output</code></td>\s*<td>missing', body)
    assert not Dataset.objects.exists()


def test_it_rejects_a_file_over_the_size_limit(client, member, settings):
    settings.HONE_MAX_UPLOAD_BYTES = 1024 * 1024
    client.force_login(member)
    row = json.dumps({"text": "x" * 1000}) + "\n"
    response = upload(client, "big.jsonl", (row * 1100).encode())
    assert response.status_code == 200
    assert "is larger than the 1 MB limit; nothing was stored" in response.content.decode()
    assert not Dataset.objects.exists()
    assert stored_files() == []


def test_viewer_cannot_upload(client, viewer):
    client.force_login(viewer)
    assert "Upload and check" not in client.get("/datasets/new/").content.decode()
    response = upload(client, "demo.jsonl", b'{"text": "hello"}\n')
    assert response.status_code == 403
    assert not Dataset.objects.exists()


def test_empty_list_invites_an_upload(client, member):
    client.force_login(member)
    body = client.get("/datasets/").content.decode()
    assert "No datasets yet — upload one" in body
    assert 'href="/datasets/new/"' in body


def test_detail_shows_facts_preview_stats_and_jobs(client, member, dataset, demo_rows, tiny_model, team):
    from jobs.models import Job

    Job.objects.create(team=team, name="first run", base_model=tiny_model, dataset=dataset)
    client.force_login(member)
    body = client.get(f"/datasets/{dataset.pk}/").content.decode()
    assert dataset.sha256 in body
    assert ">instruction<" in body
    assert ">JSONL<" in body
    assert str(dataset.row_count) in body
    assert '<th scope="col">instruction</th>' in body
    first = dataset.report["preview"][0]["instruction"]
    assert first[:30] in body
    assert "Length in characters" in body
    assert "first run" in body
    assert f'href="/jobs/new/?dataset={dataset.pk}"' in body


def test_it_hides_other_teams_datasets(client, outsider, dataset):
    client.force_login(outsider)
    assert client.get(f"/datasets/{dataset.pk}/").status_code == 404
    assert dataset.name not in client.get("/datasets/").content.decode()


def test_detail_shows_rows_as_the_model_sees_them_and_their_token_lengths(
    client, member, dataset, tiny_model
):
    client.force_login(member)
    body = client.get(f"/datasets/{dataset.pk}/").content.decode()
    assert "Rendered with the chat template and tokenizer of <strong>tiny-llama</strong>" in body
    assert re.search(r'<pre class="rendered">&lt;s&gt;&lt;\|user\|&gt;\n', body)
    assert 'class="chart histogram"' in body and "Tokens per row for 120 rows" in body
    assert "max length 512 →" in body  # far past every row: the bins fit the rows instead
    short = client.get(f"/datasets/{dataset.pk}/?max_length=16").content.decode()
    assert re.search(r"\d+ rows? (is|are) longer than 16 tokens and would be cut at the end", short)
    assert 'fill="url(#cut-hatch)"' in short


def test_detail_shows_the_validation_report(client, member, dataset):
    client.force_login(member)
    body = client.get(f"/datasets/{dataset.pk}/").content.decode()
    assert "All 120 rows passed the checks for instruction data (120 valid, 0 with problems)" in body
    assert "<code>instruction</code>, <code>input</code>, <code>output</code>" in body


def test_detail_lists_jobs_that_used_it_in_any_role(client, member, dataset, tiny_model, team):
    from jobs.assets import lineage
    from jobs.models import Job

    evaluation = Job.objects.create(team=team, name="held-out check", kind="evaluate", base_model=tiny_model)
    lineage.record_inputs(evaluation, datasets=[("dataset", dataset)])
    client.force_login(member)
    body = client.get(f"/datasets/{dataset.pk}/").content.decode()
    assert "held-out check" in body and "evaluate on tiny-llama" in body


def test_detail_without_a_language_model_says_why_there_is_no_rendering(client, member, dataset):
    client.force_login(member)
    body = client.get(f"/datasets/{dataset.pk}/").content.decode()
    assert "No language model is available to preview the rows with." in body


def test_the_upload_form_still_checks_csrf(member, demo_rows):
    """The view reads the body only after its size-limited handler is in place, so it checks the
    CSRF token itself (csrf_protect inside csrf_exempt): a post without the token is refused."""
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    response = client.post("/datasets/new/", {"file": SimpleUploadedFile("d.jsonl", jsonl_bytes(demo_rows))})
    assert response.status_code == 403
    assert not Dataset.objects.exists()
    page = client.get("/datasets/new/")
    token = page.cookies["csrftoken"].value
    data = {"file": SimpleUploadedFile("d.jsonl", jsonl_bytes(demo_rows)), "csrfmiddlewaretoken": token}
    assert client.post("/datasets/new/", data).status_code == 302
