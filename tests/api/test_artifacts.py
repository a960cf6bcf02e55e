"""Artifacts: list, detail, download (a file as is, a directory as a zip) with HTTP Range."""

from __future__ import annotations

import io
import zipfile

import pytest

from jobs.data import storage
from jobs.models import Artifact
from tests.api.helpers import problem

CONTENT = bytes(range(256)) * 40  # 10240 bytes


@pytest.fixture
def file_artifact(job):
    path = storage.root() / "runs" / f"job-{job.pk}" / "output" / "model.gguf"
    path.parent.mkdir(parents=True)
    path.write_bytes(CONTENT)
    return Artifact.objects.create(
        job=job,
        name="gguf",
        kind="model",
        location=storage.relative(path),
        bytes=len(CONTENT),
        sha256="a" * 64,
    )


@pytest.fixture
def dir_artifact(job):
    folder = storage.root() / "runs" / f"job-{job.pk}" / "output" / "adapter"
    folder.mkdir(parents=True)
    (folder / "adapter_model.safetensors").write_bytes(CONTENT)
    (folder / "adapter_config.json").write_text('{"r": 4}')
    return Artifact.objects.create(
        job=job, name="adapter", kind="adapter", location=storage.relative(folder), bytes=1, sha256="b" * 64
    )


def body_of(response) -> bytes:
    return b"".join(response.streaming_content)


def url(artifact) -> str:
    return f"/api/v1/jobs/{artifact.job_id}/artifacts/{artifact.pk}/download"


def test_list_and_detail(as_member, job, file_artifact, dir_artifact):
    listed = as_member.get(f"/api/v1/jobs/{job.pk}/artifacts").json()
    assert [a["name"] for a in listed] == ["adapter", "gguf"]
    detail = as_member.get(listed[1]["url"]).json()
    assert detail["download_url"] == url(file_artifact) and detail["bytes"] == len(CONTENT)


def test_a_whole_file(as_member, file_artifact):
    response = as_member.get(url(file_artifact))
    assert response.status_code == 200
    assert body_of(response) == CONTENT
    assert response["Accept-Ranges"] == "bytes" and response["Content-Length"] == str(len(CONTENT))
    assert 'filename="model.gguf"' in response["Content-Disposition"]


@pytest.mark.parametrize(
    "header, start, end",
    [
        ("bytes=0-99", 0, 99),
        ("bytes=10000-", 10000, 10239),
        ("bytes=-40", 10200, 10239),
        ("bytes=100-99999", 100, 10239),
    ],
)
def test_a_range_of_a_file(as_member, file_artifact, header, start, end):
    response = as_member.get(url(file_artifact), HTTP_RANGE=header)
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {start}-{end}/{len(CONTENT)}"
    assert body_of(response) == CONTENT[start : end + 1]


def test_a_range_past_the_end_is_a_416(as_member, file_artifact):
    response = as_member.get(url(file_artifact), HTTP_RANGE="bytes=20000-")
    problem(response, 416)
    assert response["Content-Range"] == f"bytes */{len(CONTENT)}"


def test_several_ranges_or_a_stale_if_range_get_the_whole_file(as_member, file_artifact):
    assert as_member.get(url(file_artifact), HTTP_RANGE="bytes=0-1,5-6").status_code == 200
    etag = as_member.get(url(file_artifact))["ETag"]
    assert as_member.get(url(file_artifact), HTTP_RANGE="bytes=0-1", HTTP_IF_RANGE='"old"').status_code == 200
    assert as_member.get(url(file_artifact), HTTP_RANGE="bytes=0-1", HTTP_IF_RANGE=etag).status_code == 206


def test_a_directory_is_a_zip_and_ranges_resume_it(as_member, dir_artifact):
    whole = as_member.get(url(dir_artifact))
    assert whole["Content-Type"] == "application/zip"
    data = body_of(whole)
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert sorted(names) == ["adapter_config.json", "adapter_model.safetensors"]
    first = body_of(as_member.get(url(dir_artifact), HTTP_RANGE="bytes=0-99"))
    rest = body_of(as_member.get(url(dir_artifact), HTTP_RANGE="bytes=100-"))
    assert first + rest == data


def test_files_gone_from_storage_are_a_404(as_member, file_artifact):
    storage.resolve(file_artifact.location).unlink()
    problem(as_member.get(url(file_artifact)), 404)


def test_an_artifact_of_another_job_is_a_404(as_member, file_artifact, team, member, tiny_model, dataset):
    from tests.api.helpers import make_job

    other = make_job(team, member, tiny_model, dataset)
    problem(as_member.get(f"/api/v1/jobs/{other.pk}/artifacts/{file_artifact.pk}/download"), 404)


# --- hostile Range headers (issue 23, item 9) --------------------------------------------

HUGE = "9" * 5000  # past Python's 4,300-digit int limit: int() raised ValueError, a 500


@pytest.mark.parametrize(
    "header, status",
    [
        (f"bytes={HUGE}-", 416),  # starts past the end of any file
        (f"bytes=0-{HUGE}", 206),  # to the end
        (f"bytes=-{HUGE}", 206),  # the last N bytes, N larger than the file: all of it
        (f"bytes={'0' * 5000}1-2", 206),  # leading zeros are still a small number
        ("bytes=١-٢", 200),  # Arabic-Indic digits are not a range we understand: the whole file
        ("bytes=" + "1-2," * 2000 + "3-4", 200),
    ],
)
def test_absurd_ranges_are_a_416_or_a_part_never_a_500(as_member, file_artifact, header, status):
    response = as_member.get(url(file_artifact), HTTP_RANGE=header)
    assert response.status_code == status, response.content[:300]
    if status == 206:
        assert response["Content-Range"].endswith(f"/{len(CONTENT)}")


def test_the_browser_download_is_the_api_one_cached_and_resumable(client, member, dir_artifact):
    """One implementation: the browser gets the same cached zip, byte for byte, and Range works there."""
    client.force_login(member)
    page_url = f"/jobs/{dir_artifact.job_id}/artifacts/{dir_artifact.pk}/download/"
    whole = client.get(page_url)
    assert whole.status_code == 200 and whole["Accept-Ranges"] == "bytes"
    data = body_of(whole)
    assert data == (storage.root() / "cache" / "artifact-zips").glob("*.zip").__next__().read_bytes()
    part = client.get(page_url, HTTP_RANGE="bytes=10-19")
    assert part.status_code == 206 and body_of(part) == data[10:20]
    assert client.get(page_url, HTTP_RANGE=f"bytes={HUGE}-").status_code == 416
