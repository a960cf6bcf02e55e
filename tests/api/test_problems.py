"""One error format everywhere, and a 4xx (never a 5xx) for every kind of bad input."""

from __future__ import annotations

import pytest

from api.problems import flatten
from tests.api.helpers import fields, problem


def test_bad_json_is_a_400(as_member):
    response = as_member.generic(
        "POST", "/api/v1/jobs", b'{"base_model": 1,', content_type="application/json"
    )
    assert "not valid JSON" in problem(response, 400)["detail"]


def test_a_body_of_the_wrong_type_is_a_415(as_member):
    response = as_member.generic("POST", "/api/v1/jobs", b"base_model=1", content_type="text/plain")
    problem(response, 415)


def test_a_json_body_over_the_limit_is_a_413(as_member, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = b'{"name": "' + b"x" * 2000 + b'"}'
    problem(as_member.generic("POST", "/api/v1/jobs", body, content_type="application/json"), 413)


def test_a_json_array_instead_of_an_object_is_a_400(as_member):
    response = as_member.generic("POST", "/api/v1/jobs", b"[1, 2]", content_type="application/json")
    problem(response, 400)


def test_an_unknown_path_is_a_problem_404(as_member):
    body = problem(as_member.get("/api/v1/nothing/here"), 404)
    assert "/api/v1/docs/" in body["detail"]


@pytest.mark.parametrize("path", ["/api/v1/webhooks/%0A/deliveries", "/api/v1/jobs/1%0A2", "/api/v1/%0D%0A"])
def test_an_unknown_path_with_a_line_break_is_a_problem_404_too(as_member, path):
    """Found by schemathesis: the catch-all did not match past a newline, so Django's HTML 404 answered."""
    problem(as_member.get(path), 404)


def test_an_unknown_openai_path_with_a_line_break_is_openai_shaped(as_member):
    response = as_member.get("/openai/v1/models/%0A/x")
    assert response.status_code == 404 and "error" in response.json()


def test_a_wrong_method_is_a_405(as_member):
    problem(as_member.delete("/api/v1/jobs"), 405)


def test_asking_for_xml_is_a_406(as_member):
    problem(as_member.get("/api/v1/jobs", HTTP_ACCEPT="application/xml"), 406)


@pytest.mark.parametrize("path", ["/api/v1/jobs/abc", "/api/v1/jobs/99999999999999999999999"])
def test_ids_that_are_not_ids_are_404s(as_member, path):
    assert as_member.get(path).status_code == 404


def test_a_huge_id_is_a_404_not_an_overflow(as_member):
    problem(as_member.get("/api/v1/jobs/9223372036854775807"), 404)


def test_too_many_form_fields_is_a_400(as_member, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 3
    data = {f"f{i}": "x" for i in range(10)}
    problem(as_member.post("/api/v1/datasets", data, format="multipart"), 400)


def test_field_errors_flatten_to_dotted_paths():
    detail = {
        "params": {"training": {"learning_rate": ["too small"]}},
        "events": {3: {"seq": ["must be positive"]}},
        "items": [{}, {"name": ["required"]}],
        "non_field_errors": ["both given"],
    }
    assert [(e["field"], e["message"]) for e in flatten(detail)] == [
        ("params.training.learning_rate", "too small"),
        ("events[3].seq", "must be positive"),
        ("items[1].name", "required"),
        (None, "both given"),
    ]


def test_the_detail_summarises_the_errors(as_member):
    body = problem(as_member.post("/api/v1/jobs", {}, format="json"), 400)
    assert set(fields(body)) == {"base_model", "dataset"}
    assert body["detail"] == "base_model: This field is required. (and 1 more problem)"


def test_a_crash_is_a_problem_500_on_api_paths_and_a_page_elsewhere(member, team, monkeypatch):
    from rest_framework.test import APIClient

    from api.views import account
    from tests.api.helpers import token_for

    def crash(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(account.Me, "get", crash)
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(member, team)}")
    body = problem(client.get("/api/v1/me"), 500)
    assert "boom" not in body["detail"]
