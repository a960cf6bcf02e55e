"""A classification job's page: fine-tuned against the frozen baseline, per class, confusion matrix."""

from __future__ import annotations

import pytest
from django.utils import timezone

from jobs.models import Attempt, Event, Job, MetricPoint

LABELS = ["bug", "question"]


@pytest.fixture
def classifier_job(team, member, tiny_model, dataset) -> Job:
    return Job.objects.create(team=team, created_by=member, name="triage", base_model=tiny_model,
                              dataset=dataset, objective="classification", status=Job.Status.SUCCEEDED)


def record(job: Job, baseline_f1: float, tuned_f1: float) -> None:
    attempt = Attempt.objects.create(job=job, number=1, executor="local", status="succeeded")
    points = {"baseline/accuracy": [(0, 0.7)], "baseline/macro_f1": [(0, baseline_f1)],
              "eval/accuracy": [(10, 0.6), (20, 0.9)], "eval/macro_f1": [(10, 0.5), (20, tuned_f1)]}
    MetricPoint.objects.bulk_create(MetricPoint(job=job, attempt=attempt, name=name, step=step, value=value)
                                    for name, values in points.items() for step, value in values)
    now = timezone.now()
    payloads = [
        {"baseline": True, "labels": LABELS, "confusion_matrix": [[5, 1], [2, 2]], "precision": [0.71, 0.67],
         "recall": [0.83, 0.5], "message": "Frozen baseline"},
        {"labels": LABELS, "confusion_matrix": [[6, 0], [4, 0]], "precision": [0.6, None],
         "recall": [1.0, 0.0], "message": "Confusion matrix at step 10"},
        {"labels": LABELS, "confusion_matrix": [[6, 0], [1, 3]], "precision": [0.86, 1.0],
         "recall": [1.0, 0.75], "message": "Confusion matrix at step 20"},
    ]
    Event.objects.bulk_create(Event(attempt=attempt, seq=i + 1, kind="log", time=now, payload=p)
                              for i, p in enumerate(payloads))


def test_the_page_shows_the_gain_over_the_baseline_and_the_newest_per_class_numbers(client, member,
                                                                                     classifier_job):
    record(classifier_job, baseline_f1=0.66, tuned_f1=0.8)
    client.force_login(member)
    body = client.get(f"/jobs/{classifier_job.pk}/live/").content.decode()
    assert "Fine-tuning gained 0.140 macro-F1 over the frozen baseline." in body
    assert 'role="alert"' not in body
    # question: 4 held-out rows, precision 1, recall 0.75 at step 20 (not step 10's 0), baseline recall 0.5
    assert ('<th scope="row">question</th><td class="num">4</td><td class="num">1</td>'
            '<td class="num">0.75</td><td class="num">0.5</td>') in body
    assert '<tr><th scope="row">question</th><td class="num">1</td><td class="num">3</td></tr>' in body


def test_the_page_warns_when_fine_tuning_did_worse_than_the_baseline(client, member, classifier_job):
    record(classifier_job, baseline_f1=0.85, tuned_f1=0.8)
    client.force_login(member)
    body = client.get(f"/jobs/{classifier_job.pk}/live/").content.decode()
    assert "Fine-tuning did worse than the frozen baseline: -0.050 macro-F1." in body


def test_an_sft_job_has_no_classifier_section(client, member, classifier_job):
    Job.objects.filter(pk=classifier_job.pk).update(objective="sft")
    record(classifier_job, baseline_f1=0.66, tuned_f1=0.8)
    client.force_login(member)
    assert "classifier-heading" not in client.get(f"/jobs/{classifier_job.pk}/live/").content.decode()
