"""Server time to render the pages that grow with use: the jobs list and a job page.

Two teams side by side in one PostgreSQL database:
  big       10,000 jobs; one of them has 100,000 metric points (plus log lines and samples)
  baseline  10 jobs; one of them has 100 metric points
Each page is rendered through Django's full request path (middleware, views, templates) with
the test client, interleaved big / baseline, and the median time of each is printed with the
number of SQL queries and the ratio big / baseline. Targets: < 300 ms per page, and the same
number of queries for both sizes.

    DATABASE_URL=postgres://root@127.0.0.1:5432/hone_bench python bench/ui_render.py [--runs 15]

The data is created once and reused by later runs (delete the "bench-ui-*" teams to rebuild).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HONE_VAR", tempfile.mkdtemp(prefix="hone-bench-ui-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hone.settings")
METRICS = (("train/loss", 1), ("train/learning_rate", 2), ("eval/loss", 10))  # name, logged every n steps


def ensure_database(url: str) -> None:
    """Create the benchmark's database when it does not exist yet."""
    import psycopg

    server, _, name = url.rpartition("/")
    with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')


def setup_django() -> None:
    import django
    from django.conf import settings
    from django.core.management import call_command

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres:", "postgresql:")):
        sys.exit("Set DATABASE_URL to a PostgreSQL database, e.g. postgres://root@127.0.0.1:5432/hone_bench")
    ensure_database(url.split("?")[0])
    django.setup()
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    call_command("migrate", verbosity=0, interactive=False)


def metric_points(job, attempt, total: int) -> list:
    """``total`` points over the metrics above, a noisy falling loss like a real run's."""
    from jobs.models import MetricPoint

    rng = random.Random(job.pk)
    per_step = sum(1 / every for _name, every in METRICS)
    steps = int(total / per_step) + 1
    points = []
    for name, every in METRICS:
        for step in range(every, steps + 1, every):
            value = 2e-4 * (1 - step / steps) if "learning_rate" in name else 3 / (1 + step / 500)
            points.append(
                MetricPoint(
                    job=job,
                    attempt=attempt,
                    name=name,
                    step=step,
                    value=value * (1 + rng.uniform(-0.05, 0.05)),
                )
            )
    return points[:total]


def make_team(slug: str, jobs: int, points: int):
    """A team with ``jobs`` finished jobs; its newest job has ``points`` metric points."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from jobs.models import Attempt, Dataset, Event, Job, Membership, MetricPoint, ModelAsset, Team

    team = Team.objects.filter(slug=slug).first()
    if team and team.jobs.count() == jobs:
        return team, team.memberships.get().user, team.jobs.order_by("-created_at").first()
    if team:
        team.delete()
    team = Team.objects.create(slug=slug, name=slug)
    user, _ = get_user_model().objects.get_or_create(username=slug)
    Membership.objects.create(team=team, user=user, role="owner")
    model = ModelAsset.objects.create(
        team=team,
        name=f"{slug} model",
        source="local",
        path="/nonexistent",
        task="causal-lm",
        parameter_count=1_100_000_000,
    )
    dataset = Dataset.objects.create(
        team=team,
        name=f"{slug} data",
        filename="d.jsonl",
        location="x",
        sha256="0" * 64,
        bytes=1,
        format="jsonl",
        task="instruction",
        row_count=1,
    )
    now = timezone.now()
    statuses = ["succeeded", "failed", "cancelled", "succeeded", "running"]
    Job.objects.bulk_create(
        [
            Job(
                team=team,
                created_by=user,
                name=f"run {i}",
                base_model=model,
                dataset=dataset,
                status=statuses[i % len(statuses)],
                step=i % 100,
                total_steps=100,
                params={"lora": {"r": 8}, "training": {"epochs": 3}},
            )
            for i in range(jobs)
        ],
        batch_size=2000,
    )
    Job.objects.filter(team=team).update(created_at=now - timedelta(days=1))
    newest = team.jobs.order_by("pk").last()
    Job.objects.filter(pk=newest.pk).update(created_at=now, status="running", step=60, total_steps=100)
    attempt = Attempt.objects.create(job=newest, number=1, executor="local", status="running")
    MetricPoint.objects.bulk_create(metric_points(newest, attempt, points), batch_size=5000)
    Event.objects.bulk_create(
        [
            Event(
                attempt=attempt,
                seq=i + 1,
                kind="log",
                time=now,
                payload={"level": "info", "message": f"line {i}"},
            )
            for i in range(min(points // 50, 2000))
        ],
        batch_size=2000,
    )
    return team, user, newest


def timed(client, url: str) -> tuple[float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        start = time.perf_counter()
        response = client.get(url)
        elapsed = time.perf_counter() - start
    assert response.status_code == 200, (url, response.status_code)
    return elapsed, len(queries)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=100_000)
    args = parser.parse_args()
    setup_django()
    from django.db import connection
    from django.test import Client

    sizes = {"big": (args.jobs, args.points), "baseline": (10, 100)}
    clients, pages = {}, {}
    for label, (jobs, points) in sizes.items():
        _team, user, job = make_team(f"bench-ui-{label}", jobs, points)
        clients[label] = Client()
        clients[label].force_login(user)
        pages[label] = {
            "jobs list": "/jobs/",
            "job page": f"/jobs/{job.pk}/",
            "live fragment": f"/jobs/{job.pk}/live/",
        }
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # planner statistics, as autovacuum keeps them in a live database
    results: dict[tuple[str, str], list[float]] = {}
    queries: dict[tuple[str, str], int] = {}
    for _ in range(args.runs + 1):  # the first round warms caches and is dropped
        for page in pages["big"]:
            for label in sizes:
                elapsed, count = timed(clients[label], pages[label][page])
                results.setdefault((page, label), []).append(elapsed)
                queries[(page, label)] = count
    print(f"{'page':<14} {'size':<32} {'median':>9} {'queries':>8} {'ratio':>6}")
    for page in pages["big"]:
        base = statistics.median(results[(page, "baseline")][1:])
        for label, (jobs, points) in sizes.items():
            median = statistics.median(results[(page, label)][1:])
            size = f"{jobs:,} jobs, {points:,} points"
            print(
                f"{page:<14} {size:<32} {median * 1000:7.1f} ms {queries[(page, label)]:>8} "
                f"{median / base:6.2f}"
            )


if __name__ == "__main__":
    main()
