"""Golden sets and promotion gates: ``params.gate`` is checked at launch, evaluated from the recorded
metrics when the job succeeds, and a model that failed it is not registered as a team model."""

from __future__ import annotations

import pytest

from jobs import gates, launch
from jobs.executors.base import Observation
from jobs.launch import LaunchRefused
from jobs.lifecycle import services
from jobs.models import Artifact, Attempt, Dataset, Job, MetricPoint, ModelAsset

PARAMS = {"lora": {"r": 4}, "training": {"epochs": 1}}
GATE = {"metric": "eval/loss", "min_gain": 0.5, "max_retention_drop": 1.0}


@pytest.fixture
def golden(dataset) -> Dataset:
    Dataset.objects.filter(pk=dataset.pk).update(golden=True)
    dataset.refresh_from_db()
    return dataset


def _launch(team, member, tiny_model, dataset, validation, gate, capture) -> Job:
    with capture():
        return launch.launch_training(
            team=team,
            user=member,
            name="gated",
            base_model=tiny_model,
            dataset=dataset,
            validation=validation,
            params={**PARAMS, "gate": gate},
        )


def _finish(job: Job, storage_root, points: dict[str, list[tuple[int, float]]]) -> Job:
    """What the trainer leaves of a run: its metrics, an adapter with a model card; then exit 0."""
    attempt = Attempt.objects.create(job=job, number=1, executor="local", status=Attempt.Status.RUNNING)
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING)
    MetricPoint.objects.bulk_create(
        MetricPoint(job=job, attempt=attempt, name=name, step=step, value=value)
        for name, values in points.items()
        for step, value in values
    )
    adapter = storage_root / "runs" / f"job-{job.pk}" / "output" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "README.md").write_text("# gated\n", encoding="utf-8")
    Artifact.objects.create(
        job=job,
        name="adapter",
        kind="adapter",
        location=str(adapter.relative_to(storage_root)),
        bytes=1,
        sha256="0" * 64,
    )
    services.finish_attempt(attempt, Observation("exited", exit_code=0))
    job.refresh_from_db()
    return job


def test_the_gate_is_evaluated_from_the_metrics():
    gate = gates.GateSpec(metric="eval/accuracy", min_gain=2.0, max_retention_drop=1.0)
    passing = {
        "eval/accuracy": [(0, 0.60), (5, 0.61), (10, 0.63)],
        "retention/perplexity": [(0, 4.0), (10, 4.03)],
    }
    result = gates.evaluate(gate, passing)
    assert result["passed"] is True
    assert result["rules"][0]["gain"] == pytest.approx(3.0)  # 0.60 → 0.63 is 3 points
    assert result["rules"][1]["drop"] == pytest.approx(0.75)
    short = {**passing, "eval/accuracy": [(0, 0.60), (10, 0.615)]}  # 1.5 points: not enough
    assert gates.evaluate(gate, short)["passed"] is False
    forgot = {**passing, "retention/perplexity": [(0, 4.0), (10, 4.2)]}  # +5 %: past 1 %
    result = gates.evaluate(gate, forgot)
    assert (result["passed"], result["rules"][0]["passed"], result["rules"][1]["passed"]) == (
        False,
        True,
        False,
    )
    unmeasured = gates.evaluate(gate, {"eval/accuracy": [(5, 0.6), (10, 0.9)]})  # no base point (step 0)
    assert unmeasured["passed"] is False and "step 0" in unmeasured["rules"][0]["why"]
    loss = gates.evaluate(
        gates.GateSpec(metric="eval/loss", min_gain=0.5), {"eval/loss": [(0, 2.0), (9, 1.2)]}
    )
    assert loss["passed"] is True and loss["rules"][0]["gain"] == pytest.approx(0.8)  # lower is better


@pytest.mark.parametrize(
    ("gate", "path", "words"),
    [
        ({"metric": "eval/bleu", "min_gain": 1}, "params.gate.metric", "eval/accuracy"),
        ({"metric": "eval/loss", "min_gain": 500}, "params.gate.min_gain", "100"),
        ({"max_retention_drop": -1}, "params.gate.max_retention_drop", "0"),
        ({"metric": "eval/loss"}, "params.gate", "min_gain"),
        ({"threshold": 1}, "params.gate.threshold", "Extra"),
        ({}, "params.gate", "a gate needs a rule"),
        ("strict", "params.gate", "must be an object"),
    ],
)
def test_a_bad_gate_is_refused_at_launch_naming_its_path(as_member, tiny_model, golden, gate, path, words):
    body = {
        "base_model": tiny_model.pk,
        "dataset": golden.pk,
        "validation": golden.pk,
        "params": {**PARAMS, "gate": gate},
    }
    response = as_member.post("/api/v1/jobs", body, format="json")
    assert response.status_code == 400, response.content
    found = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert path in found and words in found[path], found
    assert not Job.objects.exists()


def test_a_task_metric_gate_needs_a_golden_validation_set(
    team, member, tiny_model, dataset, django_capture_on_commit_callbacks
):
    with pytest.raises(LaunchRefused) as refused:
        _launch(team, member, tiny_model, dataset, dataset, GATE, django_capture_on_commit_callbacks)
    assert "gate.metric: demo is not marked golden" in str(refused.value)
    with pytest.raises(LaunchRefused) as refused:
        _launch(team, member, tiny_model, dataset, None, GATE, django_capture_on_commit_callbacks)
    assert "the job has no validation set" in str(refused.value)
    assert not Job.objects.exists()


def test_a_passing_gate_promotes_the_model_and_a_failing_one_does_not(
    team, member, tiny_model, golden, _storage, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    job = _launch(team, member, tiny_model, golden, golden, GATE, capture)
    assert job.params["gate"] == GATE and "gate" not in services.specs.build_spec(job, 1, None)
    job = _finish(
        job, _storage, {"eval/loss": [(0, 2.0), (10, 1.2)], "retention/perplexity": [(0, 4.0), (10, 4.02)]}
    )
    assert job.status == Job.Status.SUCCEEDED and job.gate_result["passed"] is True
    assert ModelAsset.objects.filter(produced_by=job).count() == 1
    failed = _launch(team, member, tiny_model, golden, golden, GATE, capture)
    failed = _finish(
        failed, _storage, {"eval/loss": [(0, 2.0), (10, 1.9)], "retention/perplexity": [(0, 4.0), (10, 4.5)]}
    )
    assert failed.status == Job.Status.SUCCEEDED and failed.gate_result["passed"] is False
    assert not ModelAsset.objects.filter(produced_by=failed).exists()  # not promoted
    card = (_storage / "runs" / f"job-{failed.pk}" / "output" / "adapter" / "README.md").read_text()
    assert "## Promotion gate" in card and "Gate failed" in card and "not registered as a team model" in card


def test_the_page_and_the_api_show_the_gate(
    client, as_member, team, member, tiny_model, golden, _storage, django_capture_on_commit_callbacks
):
    job = _launch(team, member, tiny_model, golden, golden, GATE, django_capture_on_commit_callbacks)
    assert as_member.get(f"/api/v1/jobs/{job.pk}/evaluation").json()["gate"]["status"] == "pending"
    job = _finish(
        job, _storage, {"eval/loss": [(0, 2.0), (10, 1.9)], "retention/perplexity": [(0, 4.0), (10, 4.5)]}
    )
    gate = as_member.get(f"/api/v1/jobs/{job.pk}/evaluation").json()["gate"]
    assert (gate["status"], gate["promoted"], gate["spec"]) == ("failed", False, GATE)
    assert [r["passed"] for r in gate["rules"]] == [False, False]
    assert gate["rules"][0]["gain"] == pytest.approx(0.1) and gate["rules"][1]["drop"] == pytest.approx(12.5)
    client.force_login(member)
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "Promotion gate: failed" in page and "eval/loss ≥ base + 0.5 points" in page
    assert "retention drop ≤ 1 %" in page and "was not promoted" in page


def test_members_mark_a_dataset_golden_and_viewers_cannot(client, as_member, member, viewer, dataset):
    client.force_login(viewer)
    assert client.post(f"/datasets/{dataset.pk}/golden/", {"golden": "1"}).status_code == 403
    client.force_login(member)
    client.post(f"/datasets/{dataset.pk}/golden/", {"golden": "1"})
    dataset.refresh_from_db()
    assert dataset.golden is True
    assert "Golden evaluation set." in client.get(f"/datasets/{dataset.pk}/").content.decode()
    response = as_member.patch(f"/api/v1/datasets/{dataset.pk}", {"golden": False}, format="json")
    assert response.status_code == 200 and response.json()["golden"] is False
    dataset.refresh_from_db()
    assert dataset.golden is False
