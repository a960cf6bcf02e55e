"""A multi-process job's page: each rank's tokens per second and the whole run's, in one chart and
a table, from the ``tokens_per_second`` metrics rank 0 reports for every rank."""

from __future__ import annotations

from jobs.models import Attempt, Job, MetricPoint

RATES = {"train/loss": (2.0, 1.5), "rank0/tokens_per_second": (900.0, 1100.0),
         "rank1/tokens_per_second": (800.0, 1000.0), "all/tokens_per_second": (1700.0, 2100.0)}  # fmt: skip


def test_the_job_page_shows_throughput_per_process_and_in_all(client, team, member, tiny_model, dataset):
    job = Job.objects.create(team=team, created_by=member, name="ddp", base_model=tiny_model, dataset=dataset,
                             status=Job.Status.RUNNING, step=2, total_steps=10)  # fmt: skip
    attempt = Attempt.objects.create(job=job, number=1, executor="local", status="running")
    MetricPoint.objects.bulk_create(
        MetricPoint(job=job, attempt=attempt, name=name, step=step, value=value)
        for name, values in RATES.items()
        for step, value in enumerate(values, start=1)
    )
    client.force_login(member)
    body = client.get(f"/jobs/{job.pk}/live/").content.decode()
    table = body[body.index("Throughput per process") :]
    table = table[: table.index("</table>")]
    assert table.index("Rank 0") < table.index("Rank 1") < table.index("All processes")
    assert "1100 tokens/s" in table and "1000 tokens/s" in table and "2100 tokens/s" in table
    assert "1900 tokens/s" in table  # the mean over the run, in all
    assert "<h3>Tokens per second</h3>" in body  # one chart with a line per rank
    assert "rank0/tokens_per_second</code>" not in body  # not repeated among the latest values
