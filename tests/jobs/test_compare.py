"""Comparing runs: picking them, overlaid curves, the settings diff, final metrics."""

from __future__ import annotations

import re

import pytest
from django.http import QueryDict

from jobs.assets import lineage
from jobs.models import Attempt, Job, MetricPoint
from jobs.web import compare, metric_series
from trainers.spec import LoraParams, TrainingParams


def params(**training) -> dict:
    return {"lora": LoraParams().model_dump(), "training": TrainingParams(**training).model_dump()}


def run(team, model, dataset, name: str, losses: list[float], **training) -> Job:
    job = Job.objects.create(
        team=team, name=name, base_model=model, dataset=dataset, status="succeeded", params=params(**training)
    )
    lineage.record_inputs(job, models=[("base", model, None)], datasets=[("dataset", dataset)])
    attempt = Attempt.objects.create(job=job, number=1, executor="local", status="succeeded")
    MetricPoint.objects.bulk_create(
        MetricPoint(job=job, attempt=attempt, name="train/loss", step=i + 1, value=v)
        for i, v in enumerate(losses)
    )
    MetricPoint.objects.create(
        job=job, attempt=attempt, name="eval/loss", step=len(losses), value=losses[-1] + 0.1
    )
    return job


@pytest.fixture
def two_runs(team, tiny_model, dataset) -> tuple[Job, Job]:
    slow = run(team, tiny_model, dataset, "lr small", [3.0, 2.8, 2.7, 2.6], learning_rate=1e-4)
    fast = run(team, tiny_model, dataset, "lr big", [3.0, 2.0, 1.5, 1.2], learning_rate=1e-3)
    return slow, fast


@pytest.mark.parametrize(
    ("query", "ids"),
    [
        ("ids=3,1", [3, 1]),
        ("ids=1&ids=2&ids=1", [1, 2]),
        ("ids=%231, 7", [1, 7]),
        ("ids=x,,2", [2]),
        ("", []),
    ],
)
def test_ids_come_from_a_list_or_checkboxes_in_order(query, ids):
    assert compare.parse_ids(QueryDict(query)) == ids


def test_the_settings_diff_marks_only_what_differs(two_runs):
    rows = {row.label: row for row in compare.config_diff(list(two_runs))}
    assert rows["training.learning_rate"].values == ["0.0001", "0.001"]
    assert rows["training.learning_rate"].differs
    assert not rows["training.epochs"].differs and not rows["lora.r"].differs
    assert rows["Base"].values == ["tiny-llama", "tiny-llama"] and not rows["Base"].differs
    assert rows["Dataset"].group == "Inputs"


def test_final_metrics_are_the_last_values_and_the_best_job_is_marked(two_runs):
    slow, fast = two_runs
    jobs = [slow, fast]
    finals = {
        row.name: row for row in compare.final_metrics(jobs, metric_series.downsampled([j.pk for j in jobs]))
    }
    loss = finals["train/loss"]
    assert [cell["value"] for cell in loss.cells] == [2.6, 1.2]
    assert [cell["winner"] for cell in loss.cells] == [False, True]  # lower loss wins


def test_compare_page_overlays_curves_and_shows_diff_and_finals(client, member, two_runs):
    slow, fast = two_runs
    client.force_login(member)
    body = client.get(f"/jobs/compare/?ids={slow.pk},{fast.pk}").content.decode()
    assert "<h1>Compare 2 jobs</h1>" in body
    loss_chart = re.search(r'<svg[^>]*aria-label="Loss \(train\)\.[^"]*"', body).group(0)
    assert (
        f"#{slow.pk} lr small: 2.6 at step 4" in loss_chart
        and f"#{fast.pk} lr big: 1.2 at step 4" in loss_chart
    )
    assert re.search(r'<tr class="differs">\s*<th scope="row"><code>training.learning_rate</code>', body)
    assert re.search(r'<td class="num winner">1\.2 <span class="tag">best</span>', body)


def test_compare_leaves_out_other_teams_jobs(client, outsider, two_runs):
    client.force_login(outsider)
    body = client.get(f"/jobs/compare/?ids={two_runs[0].pk},{two_runs[1].pk}").content.decode()
    assert "lr small" not in body and "lr big" not in body
    assert "2 of the jobs asked for are not in Globex" in body


def test_fewer_than_two_jobs_offers_a_picker(client, member, two_runs):
    client.force_login(member)
    body = client.get(f"/jobs/compare/?ids={two_runs[0].pk}").content.decode()
    assert "Pick two or more jobs" in body
    assert re.search(rf'value="{two_runs[0].pk}" id="ids-{two_runs[0].pk}" checked', body)
    assert f'value="{two_runs[1].pk}"' in body


def test_too_many_jobs_are_cut_to_what_one_chart_can_tell_apart(client, member, team, tiny_model, dataset):
    jobs = [run(team, tiny_model, dataset, f"run {i}", [1.0, 0.5]) for i in range(compare.MAX_JOBS + 1)]
    client.force_login(member)
    body = client.get("/jobs/compare/?ids=" + ",".join(str(j.pk) for j in jobs)).content.decode()
    assert f"At most {compare.MAX_JOBS} jobs fit one comparison" in body
    assert f"#{jobs[-1].pk} run" not in body


def test_a_job_that_stored_no_objective_compares_as_sft(two_runs):
    slow, fast = two_runs
    fast.objective = "sft"  # as the launch path records it; slow was made by hand without one
    fast.save(update_fields=["objective"])
    rows = {row.label: row for row in compare.config_diff([slow, fast])}
    assert rows["objective"].values == ["sft", "sft"]
    assert not rows["objective"].differs


def test_learning_rate_and_gradient_norm_have_no_best(two_runs):
    slow, fast = two_runs
    for job, values in ((slow, [1e-4, 5e-5]), (fast, [1e-3, 5e-4])):
        attempt = job.attempts.get()
        for name in ("train/learning_rate", "train/grad_norm"):
            MetricPoint.objects.bulk_create(
                MetricPoint(job=job, attempt=attempt, name=name, step=i + 1, value=v)
                for i, v in enumerate(values)
            )
    jobs = [slow, fast]
    finals = {
        row.name: row for row in compare.final_metrics(jobs, metric_series.downsampled([j.pk for j in jobs]))
    }
    for name in ("train/learning_rate", "train/grad_norm"):
        cells = finals[name].cells
        assert [cell["winner"] for cell in cells] == [False, False], name
        assert [cell["best"] for cell in cells] == [cell["value"] for cell in cells], name
    assert [cell["winner"] for cell in finals["train/loss"].cells] == [False, True]


def test_the_compare_page_sets_the_jobs_evaluation_side_by_side(client, member, two_runs):
    slow, fast = two_runs
    attempt = fast.attempts.get()
    points = {"retention/perplexity": [(0, 4.0), (4, 5.0)],
              "retention/choice_accuracy": [(0, 0.75), (4, 0.7)]}
    MetricPoint.objects.bulk_create(MetricPoint(job=fast, attempt=attempt, name=name, step=step, value=value)
                                    for name, values in points.items() for step, value in values)
    Job.objects.filter(pk=fast.pk).update(params={**fast.params, "gate": {"max_retention_drop": 1.0}},
                                          gate_result={"passed": False, "rules": []})
    client.force_login(member)
    body = client.get(f"/jobs/compare/?ids={slow.pk},{fast.pk}").content.decode()
    section = body[body.index('<h2 id="evaluation-heading">'): body.index('<h2 id="diff-heading">')]
    assert "<th scope=\"row\">Retention perplexity</th><td>—</td><td>+25.0 % (warned)</td>" in section
    assert "<td>—</td><td>-5.0 points</td>" in section  # within the team's 10-point limit
    assert "<th scope=\"row\">Promotion gate</th><td>—</td><td>failed</td>" in section
    assert "Judge win rate" not in section  # no job has one
