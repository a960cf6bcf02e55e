"""Event ingest throughput into PostgreSQL, in metric points per second.

The same metric events (each becomes one Event row with its JSON payload and one MetricPoint
row) are written, each time into a fresh attempt, three ways:

  baseline  COPY of exactly those rows into the same two tables: the fastest path
            PostgreSQL has, with no parsing, no checks and no idempotency
  ingest    jobs.lifecycle.ingest.parse_events + ingest() in batches of 5,000 (the endpoint's limit)
  http      POST /api/v1/attempts/<job>/<n>/events to gunicorn, in batches of 200 (what a
            trainer sends), from --trainers concurrent trainers, each with its own attempt

Prints points/s for each and the ratio to the baseline. Target: ≥ 20,000 points/s batched.

    DATABASE_URL=postgres://root@127.0.0.1:5432/hone_bench python bench/api_ingest.py [--points 100000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("HONE_VAR", tempfile.mkdtemp(prefix="hone-bench-ingest-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hone.settings")
from api_latency import backend_cpu, cpu_of, free_port, setup_django, start_gunicorn, worker_pids  # noqa: E402

TEAM = "bench-ingest"


def events(count: int) -> list[dict]:
    """What a trainer emits: metric events with a per-attempt sequence number."""
    now = datetime.now(UTC).isoformat()
    return [
        {
            "seq": i + 1,
            "kind": "metric",
            "time": now,
            "name": "loss",
            "step": i + 1,
            "value": 2.0 / (i + 1),
            "split": "train",
        }
        for i in range(count)
    ]


def new_attempt(token: str = ""):
    """A running job with a live attempt of the bench team."""
    from django.contrib.auth import get_user_model

    from jobs.models import Attempt, Dataset, Job, Membership, ModelAsset, Team

    team, created = Team.objects.get_or_create(slug=TEAM, defaults={"name": TEAM})
    user, _ = get_user_model().objects.get_or_create(username=TEAM)
    if created:
        Membership.objects.create(team=team, user=user, role="member")
    model, _ = ModelAsset.objects.get_or_create(
        team=team, name="m", defaults={"source": "local", "path": "/nonexistent", "task": "causal-lm"}
    )
    dataset, _ = Dataset.objects.get_or_create(
        team=team,
        name="d",
        defaults={
            "filename": "d.jsonl",
            "location": "x",
            "sha256": "0" * 64,
            "bytes": 1,
            "format": "jsonl",
            "task": "instruction",
            "row_count": 1,
        },
    )
    job = Job.objects.create(
        team=team, created_by=user, name="ingest", base_model=model, dataset=dataset, status="running"
    )
    return Attempt.objects.create(
        job=job,
        number=1,
        executor="local",
        status="running",
        token_hash=hashlib.sha256(token.encode()).hexdigest(),
    )


class Meter:
    """Wall time, and CPU time spent on it by this process, given other processes and PostgreSQL."""

    def __init__(self, other_pids=()) -> None:
        self.other_pids = other_pids

    def __enter__(self) -> Meter:
        self.wall, self.mine = time.perf_counter(), time.process_time()
        self.others = {pid: cpu_of(pid) for pid in self.other_pids()} if self.other_pids else {}
        self.db = backend_cpu()
        return self

    def __exit__(self, *exc) -> None:
        db = backend_cpu()
        others = {pid: cpu_of(pid) for pid in self.other_pids()} if self.other_pids else {}
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.mine
        self.cpu += sum(cpu - self.others.get(pid, 0.0) for pid, cpu in others.items())
        self.cpu += sum(cpu - self.db.get(pid, 0.0) for pid, cpu in db.items())


def copy_baseline(raw: list[dict]) -> Meter:
    """COPY the rows ingest would write, into the same tables."""
    from django.db import connection, transaction

    attempt = new_attempt()
    meter = Meter()
    meter.__enter__()
    with transaction.atomic(), connection.cursor() as cursor:
        copy_sql = "COPY jobs_event (attempt_id, seq, kind, time, payload) FROM STDIN"
        with cursor.connection.cursor().copy(copy_sql) as copy:
            for e in raw:
                payload = {k: v for k, v in e.items() if k not in ("seq", "kind", "time")}
                copy.write_row((attempt.pk, e["seq"], e["kind"], e["time"], json.dumps(payload)))
        with cursor.connection.cursor().copy(
            "COPY jobs_metricpoint (job_id, attempt_id, name, step, value) FROM STDIN"
        ) as copy:
            for e in raw:
                copy.write_row(
                    (attempt.job_id, attempt.pk, f"{e['split']}/{e['name']}", e["step"], e["value"])
                )
    meter.__exit__()
    return meter


def ingest_direct(raw: list[dict], batch: int) -> Meter:
    from jobs.lifecycle import ingest

    attempt = new_attempt()
    with Meter() as meter:
        for i in range(0, len(raw), batch):
            ingest.ingest(attempt, ingest.parse_events(raw[i : i + batch]))
    return meter


def ingest_http(raw: list[dict], batch: int, trainers: int) -> Meter:
    """Seconds for ``trainers`` concurrent clients to POST all of ``raw`` each to their attempt."""
    import http.client

    per_trainer = len(raw) // trainers
    tokens = [f"bench-token-{i}-{time.time()}" for i in range(trainers)]
    attempts = [new_attempt(token) for token in tokens]
    port = free_port()
    server = start_gunicorn(port, workers=2, threads=4)
    errors: list[str] = []

    def trainer(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        attempt, mine = attempts[index], raw[:per_trainer]
        url = f"/api/v1/attempts/{attempt.job_id}/{attempt.number}/events"
        headers = {"Authorization": f"Bearer {tokens[index]}", "Content-Type": "application/json"}
        for i in range(0, len(mine), batch):
            connection.request("POST", url, body=json.dumps({"events": mine[i : i + batch]}), headers=headers)
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                errors.append(f"{response.status}: {body[:200]!r}")
                return

    try:
        threads = [threading.Thread(target=trainer, args=(i,)) for i in range(trainers)]
        with Meter(lambda: worker_pids(server.pid)) as meter:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    if errors:
        sys.exit(f"ingest endpoint failed: {errors[0]}")
    return meter


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--trainers", type=int, default=4)
    args = parser.parse_args()
    setup_django()
    raw = events(args.points)
    http_points = (args.points // args.trainers) * args.trainers
    runs: dict[str, list[tuple[float, float]]] = {}  # name -> [(points/s, points per CPU-second)]
    for _ in range(args.runs):  # interleaved, so machine noise hits all alike
        for name, points, measure in (
            ("baseline: COPY", args.points, lambda: copy_baseline(raw)),
            ("ingest(), 5,000 per batch", args.points, lambda: ingest_direct(raw, 5000)),
            (
                f"HTTP, 200 per batch, {args.trainers} trainers",
                http_points,
                lambda: ingest_http(raw, 200, args.trainers),
            ),
        ):
            meter = measure()
            runs.setdefault(name, []).append((points / meter.wall, points / meter.cpu))
    base = statistics.median(rate for rate, _ in runs["baseline: COPY"])
    load_average = os.getloadavg()[0]
    print(f"{args.points:,} metric events per run · median of {args.runs} runs · load {load_average:.1f}")
    print(f"{'path':<34} {'points/s':>10} {'vs COPY':>8} {'per CPU-s':>10}")
    for name, values in runs.items():
        rate = statistics.median(v for v, _ in values)
        per_cpu = statistics.median(c for _, c in values)
        print(f"{name:<34} {rate:>10,.0f} {rate / base:>8.2f} {per_cpu:>10,.0f}")
    print("per CPU-s: points per second of CPU spent by the client, gunicorn and PostgreSQL together")
    print("target: >= 20,000 points/s batched")


if __name__ == "__main__":
    main()
