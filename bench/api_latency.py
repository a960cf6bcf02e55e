"""API latency under load: the job list and job detail of a team with 10,000 jobs.

gunicorn serves Hone as `make run` does (gthread, 2 workers × 4 threads; change with
--workers / --threads) against PostgreSQL, with Redis holding the rate-limit counters. A load
generator on loopback keeps --clients (20) clients busy: each holds a keep-alive connection
and sends its next request, with a real personal access token, as soon as the last answer
arrived. Three endpoints, measured in interleaved rounds so machine noise hits all alike:

  baseline   GET /api/v1/me: the same authentication, team lookup, rate limit and JSON
             rendering as the others, but no job is read
  job list   GET /api/v1/jobs: the newest page (25 jobs) of the 10,000
  job detail GET /api/v1/jobs/<id> of a random job, with its attempts

Prints p50 / p95 / p99 latency and throughput per endpoint, and the ratio to the baseline.
Target: job list and job detail p95 < 100 ms.

    DATABASE_URL=postgres://root@127.0.0.1:5432/hone_bench python bench/api_latency.py [--seconds 10]

The jobs are created once and reused by later runs (delete the team "bench-api-2" to rebuild).
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HONE_VAR", tempfile.mkdtemp(prefix="hone-bench-api-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hone.settings")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
TEAM = "bench-api-2"


def setup_django() -> None:
    import django
    from django.core.management import call_command

    if not os.environ.get("DATABASE_URL", "").startswith(("postgres:", "postgresql:")):
        sys.exit("Set DATABASE_URL to a PostgreSQL database, e.g. postgres://root@127.0.0.1:5432/hone_bench")
    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


def seed(jobs: int) -> tuple[list[int], str]:
    """The bench team with ``jobs`` jobs, one attempt each; returns their ids and a fresh token."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from api import tokens
    from jobs.models import Attempt, Dataset, Job, Membership, ModelAsset, Team

    team = Team.objects.filter(slug=TEAM).first()
    if team is None or team.jobs.count() != jobs:
        if team is not None:  # jobs first: they protect their datasets and models
            Job.objects.filter(team=team).delete()
            team.delete()
        team = Team.objects.create(slug=TEAM, name=TEAM)
        user, _ = get_user_model().objects.get_or_create(username=TEAM)
        Membership.objects.create(team=team, user=user, role="member")
        model = ModelAsset.objects.create(
            team=team, name="bench model", source="local", path="/nonexistent", task="causal-lm"
        )
        dataset = Dataset.objects.create(
            team=team,
            name="bench data",
            filename="d.jsonl",
            location="x",
            sha256="0" * 64,
            bytes=1,
            format="jsonl",
            task="instruction",
            row_count=1,
        )
        # A history like a real team's: nearly all finished, the newest few running or queued.
        finished = ["succeeded", "failed", "succeeded", "cancelled"]
        statuses = [finished[i % 4] for i in range(jobs - 20)] + ["running"] * 10 + ["queued"] * 10
        params = {
            "lora": {"r": 8, "alpha": 16, "dropout": 0.05},
            "training": {"epochs": 3, "learning_rate": 2e-4},
        }
        Job.objects.bulk_create(
            [
                Job(
                    team=team,
                    created_by=user,
                    name=f"run {i}",
                    base_model=model,
                    dataset=dataset,
                    status=statuses[i],
                    step=i % 100,
                    total_steps=100,
                    params=params,
                )
                for i in range(jobs)
            ],
            batch_size=2000,
        )
        with connection.cursor() as cursor:  # distinct creation times, a minute apart, like a real history
            cursor.execute(
                "UPDATE jobs_job j SET created_at = now() - o.n * interval '1 minute' FROM "
                "(SELECT id, row_number() OVER (ORDER BY id DESC) AS n FROM jobs_job WHERE team_id = %s) o "
                "WHERE j.id = o.id",
                [team.pk],
            )
        ids = list(team.jobs.values_list("pk", flat=True))
        Attempt.objects.bulk_create(
            [Attempt(job_id=pk, number=1, executor="local", status="succeeded") for pk in ids],
            batch_size=2000,
        )
    with connection.cursor() as cursor:  # fresh statistics, as autovacuum would have them in production
        cursor.execute("ANALYZE jobs_job")
        cursor.execute("ANALYZE jobs_attempt")
    user = team.memberships.get().user
    _, token = tokens.issue(user=user, team=team, name="bench")
    return list(team.jobs.values_list("pk", flat=True)), token


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(port: int, workers: int, threads: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "CACHE_URL": REDIS_URL,
        "CELERY_BROKER_URL": REDIS_URL,
        "HONE_API_RATE": "100000000/min",
        "LOG_LEVEL": "WARNING",
        "DEBUG": "0",
    }
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "hone.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--worker-class",
        "gthread",
        "--keep-alive",
        "30",
    ]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/api/v1/schema/")
            if connection.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    sys.exit("gunicorn did not start")


def load(port: int, token: str, paths, clients: int, seconds: float) -> list[float]:
    """Latencies (s) of every request ``clients`` busy clients complete in ``seconds``."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def client(seed_: int) -> None:
        rng = random.Random(seed_)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        while time.monotonic() < stop:
            start = time.perf_counter()
            connection.request("GET", paths(rng), headers=headers)
            response = connection.getresponse()
            response.read()
            mine.append(time.perf_counter() - start)
            if response.status != 200:
                raise SystemExit(f"HTTP {response.status}")
        connection.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies


def _stat(pid_dir: Path) -> list[str] | None:
    try:
        return pid_dir.joinpath("stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None  # a process that just ended


def worker_pids(master: int) -> list[int]:
    """gunicorn's workers: the children of its master process."""
    found = []
    for pid_dir in Path("/proc").glob("[0-9]*"):
        fields = _stat(pid_dir)
        if fields and int(fields[1]) == master:
            found.append(int(pid_dir.name))
    return found


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) a process has used, from /proc; 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backend_cpu() -> dict[int, float]:
    """CPU so far of every PostgreSQL backend serving this database (ours and gunicorn's)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        return {pid: cpu_of(pid) for (pid,) in cursor.fetchall()}


def server_cpu_seconds(master: int) -> float:
    """CPU time (user + system) used so far by gunicorn's workers, from /proc."""
    total = 0
    for pid in worker_pids(master):
        fields = _stat(Path(f"/proc/{pid}"))
        if fields:
            total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0, help="per endpoint and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    setup_django()
    ids, token = seed(args.jobs)
    endpoints = {
        "baseline (me)": lambda rng: "/api/v1/me",
        "job list": lambda rng: "/api/v1/jobs",
        "job detail": lambda rng: f"/api/v1/jobs/{rng.choice(ids)}",
    }
    port = free_port()
    server = start_gunicorn(port, args.workers, args.threads)
    results: dict[str, list[float]] = {name: [] for name in endpoints}
    cpu: dict[str, float] = dict.fromkeys(endpoints, 0.0)
    try:
        for paths in endpoints.values():  # warm every worker's connections and caches
            load(port, token, paths, args.clients, 1.0)
        for _ in range(args.rounds):
            for name, paths in endpoints.items():
                before, db_before = server_cpu_seconds(server.pid), backend_cpu()
                results[name] += load(port, token, paths, args.clients, args.seconds)
                db_after = backend_cpu()
                cpu[name] += server_cpu_seconds(server.pid) - before
                cpu[name] += sum(used - db_before.get(pid, 0.0) for pid, used in db_after.items())
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    total = args.seconds * args.rounds
    print(
        f"{args.jobs:,} jobs · {args.clients} clients · gunicorn {args.workers}×{args.threads} gthread · "
        f"{total:.0f} s per endpoint"
    )
    columns = ("requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "p95 ratio", "cpu ms/req")
    print(f"{'endpoint':<14} " + " ".join(f"{c:>10}" for c in columns))
    base_p95 = percentile(results["baseline (me)"], 95) * 1000
    for name, values in results.items():
        p50, p95, p99 = (percentile(values, q) * 1000 for q in (50, 95, 99))
        cells = (f"{len(values)}", f"{len(values) / total:.0f}", f"{p50:.1f}", f"{p95:.1f}", f"{p99:.1f}")
        per_request = cpu[name] / len(values) * 1000  # gunicorn workers and their PostgreSQL backends
        cells += (f"{p95 / base_p95:.2f}", f"{per_request:.1f}")
        print(f"{name:<14} " + " ".join(f"{c:>10}" for c in cells))
    load_average = os.getloadavg()[0]
    print(f"target: job list and job detail p95 < 100 ms · machine load average {load_average:.1f} (2 cores)")


if __name__ == "__main__":
    main()
