"""Peak memory of a web worker while it refuses decompression bombs and enormous rows.

gunicorn serves Hone embedded (SQLite in a temporary HONE_VAR, one sync worker, the default
limits: HONE_MAX_ROW_MB=16, HONE_MAX_CELL_MB=8, HONE_MAX_DECODED_MB=1024, HONE_MAX_JSON_MB=64,
HONE_MAX_UPLOAD_MB=200). Each case is POSTed to /api/v1/datasets with a real token, streamed
from a file, after the worker's peak resident size was reset (/proc/<pid>/clear_refs); the
worker's VmHWM afterwards is its peak while handling that upload. A case passes when the answer
is a 4xx naming the limit, nothing was stored, and the peak stays under --budget-mb above the
worker's idle size.

    .venv/bin/python bench/upload_bombs.py [--budget-mb 300]

Issue 23 measured the 13 KB zstd Parquet bomb before the fix: accepted in 8.4 s, the worker
from 173 MB to 1.4 GB (about 1 GB kept).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def parquet_bomb(path: Path, codec: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": ["x" * (400 * MB)]}), path, compression=codec)


def dictionary_bomb(path: Path) -> None:
    """One 1 MB value in every one of 1,000,000 rows: a terabyte once decoded."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    column = pa.DictionaryArray.from_arrays(pa.array([0] * 1_000_000, pa.int32()), pa.array(["d" * MB]))
    pq.write_table(pa.table({"text": column}), path, compression="zstd")


def long_line(path: Path, megabytes: int) -> None:
    with path.open("wb") as out:
        out.write(b'{"text": "')
        for _ in range(megabytes):
            out.write(b"z" * MB)
        out.write(b'"}\n')


def gzip_bomb(path: Path) -> None:
    with gzip.open(path, "wb", compresslevel=9) as out:
        for _ in range(1024):
            out.write(bytes(MB))


def zip_bomb(path: Path) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("big.csv", b"a," * (512 * MB))


def big_json_array(path: Path) -> None:
    row = json.dumps({"text": "t" * 1000})
    with path.open("w") as out:
        out.write("[" + ",".join([row] * 100_000) + "]")  # about 100 MB


CASES = [
    ("zstd Parquet, one 400 MB string (13 KB)", "bomb.parquet", lambda p: parquet_bomb(p, "zstd")),
    ("gzip Parquet, one 400 MB string", "gz.parquet", lambda p: parquet_bomb(p, "gzip")),
    ("Parquet dictionary: 1 MB value x 1,000,000 rows", "dict.parquet", dictionary_bomb),
    ("a JSON line of 150 MB", "long.jsonl", lambda p: long_line(p, 150)),
    ("gzip of 1 GB of zeros named .jsonl", "zeros.jsonl", gzip_bomb),
    ("zip of a 1 GB CSV named .csv", "bomb.csv", zip_bomb),
    ("a 100 MB JSON array", "array.json", big_json_array),
]


def vm(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) // 1024
    raise RuntimeError(f"no {field} for {pid}")


def setup(env: dict) -> str:
    code = (
        "import django; django.setup();"
        "from django.core.management import call_command; call_command('migrate', verbosity=0);"
        "from django.contrib.auth import get_user_model; from jobs.models import Team, Membership;"
        "from api.tokens import issue;"
        "t=Team.objects.create(name='b', slug='b');"
        "u=get_user_model().objects.create_user('b', password='b');"
        "Membership.objects.create(team=t, user=u, role='owner'); print(issue(user=u, team=t, name='b')[1])"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    return done.stdout.strip().splitlines()[-1]


def worker_of(master: subprocess.Popen) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        children = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.2)
    raise SystemExit("gunicorn started no worker")


def main() -> None:
    import requests

    parser = argparse.ArgumentParser()
    parser.add_argument("--budget-mb", type=int, default=300)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hone-bombs-"))
    env = {**os.environ, "HONE_VAR": str(work / "var"), "DJANGO_SETTINGS_MODULE": "hone.settings"}
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL"):
        env.pop(name, None)  # embedded: SQLite and files, like `make run`
    token = setup(env)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "hone.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1", "-t", "300"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    failures = 0
    try:
        pid = worker_of(server)
        url = f"http://127.0.0.1:{port}/api/v1/datasets"
        headers = {"Authorization": f"Bearer {token}"}
        for _ in range(100):  # wait for the server, and warm the worker with one good upload
            try:
                good = io.BytesIO(b'{"text": "a"}\n{"text": "b"}\n')
                if requests.post(url, headers=headers, files={"file": ("w.jsonl", good)}, timeout=60).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        idle = vm(pid, "VmRSS")
        print(f"worker {pid}: {idle} MB resident when idle (after one small upload)\n")
        print(f"{'case':52} {'file':>9} {'status':>6} {'seconds':>7} {'peak MB':>8} {'over idle':>9}  answer")
        for title, name, build in CASES:
            path = work / name
            build(path)
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset VmHWM to the current size
            start = time.monotonic()
            with path.open("rb") as fh:
                response = requests.post(url, headers=headers, files={"file": (name, fh)}, timeout=300)
            seconds = time.monotonic() - start
            peak = vm(pid, "VmHWM")
            detail = response.json().get("detail", "")[:90]
            ok = 400 <= response.status_code < 500 and peak - idle <= args.budget_mb
            failures += not ok
            size = path.stat().st_size
            shown = f"{size / MB:.1f} MB" if size >= MB else f"{size / 1024:.0f} KB"
            print(
                f"{title:52} {shown:>9} {response.status_code:>6} {seconds:7.2f} {peak:8d} {peak - idle:9d}"
                f"  {detail}"
            )
            path.unlink()
        stored = list((work / "var" / "storage" / "datasets").rglob("*"))
        print(f"\nfiles in storage/datasets: {len([p for p in stored if p.is_file()])} (the warm-up's only)")
    finally:
        server.terminate()
        server.wait(30)
    raise SystemExit(1 if failures else 0)


if __name__ == "__main__":
    main()
