"""An evaluate job judged by the operator's OpenAI-compatible endpoint (params.judge.use_endpoint):
refused where none is configured; its spec names the endpoint but never the API key, which reaches
that job's trainer by environment only (and no other job's)."""

from __future__ import annotations

import json
import logging

from jobs.executors.local import PLATFORM_SECRETS
from jobs.lifecycle import services, specs
from jobs.models import Job
from tests.api.helpers import fields, problem
from tests.api.test_chain_jobs import create, tune

__all__ = ["tune"]
KEY = "sk-operator-judge-key-42"


def _body(tiny_model, tune, **judge) -> dict:
    return {"kind": "evaluate", "base_model": tiny_model.pk, "candidate": tune.pk,
            "params": {"judge": {"rubric": "Correct answers win.", "use_endpoint": True, **judge}}}


def test_an_endpoint_judge_needs_the_operators_endpoint(as_member, tiny_model, tune, settings):
    settings.HONE_JUDGE_BASE_URL, settings.HONE_JUDGE_MODEL = "", ""
    errors = fields(problem(create(as_member, **_body(tiny_model, tune)), 400))
    assert "HONE_JUDGE_BASE_URL" in errors["params.judge.use_endpoint"], errors
    settings.HONE_JUDGE_BASE_URL, settings.HONE_JUDGE_MODEL = "http://judge.internal/v1", "judge-1"
    both = fields(problem(create(as_member, **_body(tiny_model, tune), judge_model=tune.pk), 400))
    assert "not both" in both["judge_model"], both
    assert not Job.objects.filter(kind="evaluate").exists()


def test_the_key_reaches_the_trainer_by_environment_only(
    as_member, tiny_model, tune, settings, caplog, django_capture_on_commit_callbacks
):
    settings.HONE_JUDGE_BASE_URL, settings.HONE_JUDGE_MODEL = "http://judge.internal/v1", "judge-1"
    settings.HONE_JUDGE_API_KEY = KEY
    caplog.set_level(logging.DEBUG)
    with django_capture_on_commit_callbacks(execute=False):
        response = create(as_member, **_body(tiny_model, tune))
    assert response.status_code == 201, response.json()
    job = Job.objects.get(pk=response.json()["id"])
    spec = specs.build_spec(job, 1, None)
    assert spec["judge"]["endpoint"] == {"base_url": "http://judge.internal/v1", "model": "judge-1"}
    assert spec["judge"]["model"] is None and spec["judge"]["use_endpoint"] is True
    assert KEY not in json.dumps(spec) and KEY not in json.dumps(job.params) and KEY not in caplog.text
    assert services.judge_endpoint_env(spec) == {"HONE_JUDGE_API_KEY": KEY}
    plain = _body(tiny_model, tune)
    plain["params"]["judge"]["use_endpoint"] = False
    plain["judge_model"] = tune.pk
    with django_capture_on_commit_callbacks(execute=False):
        other = Job.objects.get(pk=create(as_member, **plain).json()["id"])
    assert services.judge_endpoint_env(specs.build_spec(other, 1, None)) == {}  # other jobs never get it
    assert {"HONE_JUDGE_API_KEY", "HONE_JUDGE_API_KEY_FILE"} <= PLATFORM_SECRETS  # not inherited either


def test_the_evaluate_form_offers_the_endpoint_where_one_is_configured(
    client, member, tiny_model, tune, settings, django_capture_on_commit_callbacks
):
    client.force_login(member)
    settings.HONE_JUDGE_BASE_URL, settings.HONE_JUDGE_MODEL, settings.HONE_JUDGE_API_KEY = "", "", KEY
    assert 'name="judge_endpoint"' not in client.get("/jobs/new/evaluate/").content.decode()
    settings.HONE_JUDGE_BASE_URL, settings.HONE_JUDGE_MODEL = "http://judge.internal/v1", "judge-1"
    page = client.get("/jobs/new/evaluate/").content.decode()
    assert 'name="judge_endpoint"' in page and KEY not in page
    form = {"base": tiny_model.pk, "candidate": tune.pk, "max_new_tokens": 8, "judge_endpoint": "on",
            "rubric": "Correct answers win."}
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post("/jobs/new/evaluate/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    job = Job.objects.get(kind="evaluate")
    assert job.params["judge"] == {"rubric": "Correct answers win.", "use_endpoint": True}
    both = client.post("/jobs/new/evaluate/", form | {"judge_model": tune.pk}).content.decode()
    assert "not both" in both and Job.objects.filter(kind="evaluate").count() == 1
