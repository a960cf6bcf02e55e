"""Promotion gates on merges: ``params.gate`` of a merge is checked at launch (errors at
``params.gate.*``), its golden set and reference model go to the trainer's evaluation step, and a
merged model that failed its gate is not registered as a team model."""

from __future__ import annotations

import pytest

from jobs.executors.base import Observation
from jobs.lifecycle import services, specs
from jobs.models import Artifact, Attempt, Dataset, Job, MetricPoint, ModelAsset
from tests.api.helpers import fields, problem
from tests.api.test_chain_jobs import create, merge_body, team_model

GATE = {"metric": "eval/perplexity", "min_gain": 0.5, "max_retention_drop": 1.0}


@pytest.fixture
def tune(team, tiny_model_dir):
    return team_model(team, "tune", tiny_model_dir, architecture="LlamaForCausalLM")


@pytest.fixture
def golden(dataset) -> Dataset:
    Dataset.objects.filter(pk=dataset.pk).update(golden=True)
    dataset.refresh_from_db()
    return dataset


def _gated_body(tiny_model, tune, golden, gate=GATE, **changes) -> dict:
    body = merge_body(tiny_model, tune, golden_dataset=golden.pk if golden else None, **changes)
    body["params"] = {**body["params"], "gate": gate}
    return body


def _finish(job: Job, storage_root, points: dict[str, list[tuple[int, float]]]) -> Job:
    """What the trainer leaves of a gated merge: the model with its card, the two measurements; exit 0."""
    attempt = Attempt.objects.create(job=job, number=1, executor="local", status=Attempt.Status.RUNNING)
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING)
    MetricPoint.objects.bulk_create(
        MetricPoint(job=job, attempt=attempt, name=name, step=step, value=value)
        for name, values in points.items()
        for step, value in values
    )
    out = storage_root / "runs" / f"job-{job.pk}" / "output"
    out.mkdir(parents=True)
    (out / "README.md").write_text("# merged\n", encoding="utf-8")
    Artifact.objects.create(job=job, name="model", kind="model", location=str(out.relative_to(storage_root)),
                            bytes=1, sha256="0" * 64)
    services.finish_attempt(attempt, Observation("exited", exit_code=0))
    job.refresh_from_db()
    return job


def test_a_gated_merge_sends_its_reference_and_golden_set_to_the_trainer(
    as_member, tiny_model, tune, golden, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        response = create(as_member, **_gated_body(tiny_model, tune, golden))
    assert response.status_code == 201, response.json()
    job = Job.objects.get(pk=response.json()["id"])
    assert job.params["gate"] == GATE and "gate" not in job.params["params"]
    datasets = [(i.role, i.dataset_id) for i in job.inputs.filter(dataset__isnull=False)]
    assert datasets == [("golden", golden.pk)]
    spec = specs.build_spec(job, 1, None)
    evaluation = spec["gate_evaluation"]
    assert evaluation["reference"]["model"]["path"] == tiny_model.path  # the base model of the merge
    assert evaluation["dataset"]["sha256"] == golden.sha256 and evaluation["retention"] is True
    assert "gate" not in spec["params"] and "gate" not in spec


@pytest.mark.parametrize(
    ("gate", "golden_given", "path", "words"),
    [
        ({"metric": "eval/accuracy", "min_gain": 1}, True, "params.gate.metric", "scored by eval/loss or"),
        ({"metric": "eval/perplexity", "min_gain": 1}, False, "params.gate.metric", "no golden dataset"),
        ({"metric": "eval/perplexity", "min_gain": 500}, True, "params.gate.min_gain", "100"),
        ({"max_retention_drop": -1}, False, "params.gate.max_retention_drop", "0"),
        ({"metric": "eval/loss"}, True, "params.gate", "min_gain"),
        ({"threshold": 1}, False, "params.gate.threshold", "Extra"),
        ("strict", False, "params.gate", "must be an object"),
    ],
)
def test_a_bad_merge_gate_is_refused_naming_its_path(
    as_member, tiny_model, tune, golden, gate, golden_given, path, words
):
    body = _gated_body(tiny_model, tune, golden if golden_given else None, gate)
    errors = fields(problem(create(as_member, **body), 400))
    assert path in errors and words in errors[path], errors
    assert not Job.objects.filter(kind="merge").exists()


def test_a_task_metric_gate_needs_a_golden_set_and_a_golden_set_needs_a_gate(
    as_member, tiny_model, tune, dataset
):
    errors = fields(problem(create(as_member, **_gated_body(tiny_model, tune, dataset)), 400))
    assert "demo is not marked golden" in errors["params.gate.metric"], errors
    body = merge_body(tiny_model, tune, golden_dataset=dataset.pk)
    errors = fields(problem(create(as_member, **body), 400))
    assert "read by a gate" in errors["golden_dataset"], errors
    assert not Job.objects.filter(kind="merge").exists()


def test_another_teams_golden_set_is_refused(as_member, tiny_model, tune, other_team, member, demo_rows):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from jobs.data.datasets import create_dataset
    from tests.conftest import jsonl_bytes

    theirs = create_dataset(team=other_team, user=member, name="theirs",
                            upload=SimpleUploadedFile("t.jsonl", jsonl_bytes(demo_rows)))
    Dataset.objects.filter(pk=theirs.pk).update(golden=True)
    errors = fields(problem(create(as_member, **_gated_body(tiny_model, tune, theirs)), 400))
    assert "no dataset" in errors["golden_dataset"], errors


def test_a_merge_that_fails_its_gate_is_not_registered_and_one_that_passes_is(
    as_member, client, member, tiny_model, tune, golden, _storage, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        passing = Job.objects.get(pk=create(as_member, **_gated_body(tiny_model, tune, golden)).json()["id"])
        failing = Job.objects.get(pk=create(as_member, **_gated_body(tiny_model, tune, golden)).json()["id"])
    passing = _finish(passing, _storage, {"eval/perplexity": [(0, 9.0), (1, 8.0)],
                                          "retention/perplexity": [(0, 4.0), (1, 4.02)]})
    assert passing.status == Job.Status.SUCCEEDED and passing.gate_result["passed"] is True
    assert ModelAsset.objects.filter(produced_by=passing).count() == 1
    failing = _finish(failing, _storage, {"eval/perplexity": [(0, 9.0), (1, 8.9)],
                                          "retention/perplexity": [(0, 4.0), (1, 4.5)]})
    assert failing.status == Job.Status.SUCCEEDED and failing.gate_result["passed"] is False
    assert not ModelAsset.objects.filter(produced_by=failing).exists()
    card = (_storage / "runs" / f"job-{failing.pk}" / "output" / "README.md").read_text()
    assert "## Promotion gate" in card and "not registered as a team model" in card
    gate = as_member.get(f"/api/v1/jobs/{failing.pk}/evaluation").json()["gate"]
    assert (gate["status"], gate["measured_model"]) == ("failed", "Merged")
    assert as_member.get(f"/api/v1/jobs/{failing.pk}").json()["gate"] == gate  # the job detail has it too
    assert gate["rules"][0]["gain"] == pytest.approx(0.1) and gate["rules"][1]["drop"] == pytest.approx(12.5)
    client.force_login(member)
    page = client.get(f"/jobs/{failing.pk}/").content.decode()
    assert "Promotion gate: failed" in page and ">Merged</th>" in page and "was not promoted" in page
    table = page[page.index('class="num">Merged</th><th scope="col" class="num">Change'):]  # base vs merged
    assert "<code class=\"small muted\">eval/perplexity</code>" in table[:3000]
