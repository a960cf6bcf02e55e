"""The README's API walkthroughs (curl and Python) run, as written, against a live server.

A real token, a real upload, a real job: the reconciler runs in a thread as Celery beat and a
worker would run it, and the local executor starts the fake trainer (tests/support), which
speaks the event protocol and writes an adapter, so no torch is imported.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest
from django.db import connection

from jobs.lifecycle import services
from jobs.models import Job
from tests.api.helpers import token_for
from tests.conftest import jsonl_bytes

ROOT = Path(__file__).resolve().parents[2]
FAKE_PYTHON = ROOT / "tests" / "support" / "fake-python"
TESTED_BLOCK = re.compile(r"<!-- tested: tests/api/test_readme\.py[^>]*-->\n```(\w+)\n(.*?)```", re.S)


def readme_blocks() -> dict[str, str]:
    return dict(TESTED_BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8")))


@pytest.fixture
def hone(live_server, transactional_db, settings, owner, team, tiny_model, demo_rows, tmp_path):
    settings.HONE_TRAINER_PYTHON = str(FAKE_PYTHON)
    settings.HONE_INGEST_URL = ""
    (tmp_path / "train.jsonl").write_bytes(jsonl_bytes(demo_rows))
    stop = threading.Event()

    def reconcile_loop() -> None:
        try:
            while not stop.is_set():
                services.reconcile()
                stop.wait(0.2)
        finally:
            connection.close()

    thread = threading.Thread(target=reconcile_loop, daemon=True)
    thread.start()
    env = {"PATH": os.environ["PATH"], "HONE_URL": live_server.url, "HONE_TOKEN": token_for(owner, team)}
    yield env
    stop.set()
    thread.join(10)


def run(command: list[str], env: dict, cwd: Path) -> str:
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert env["HONE_TOKEN"] not in done.stdout + done.stderr
    return done.stdout


def assert_adapter(path: Path) -> None:
    with zipfile.ZipFile(path) as archive:
        assert "adapter_model.safetensors" in archive.namelist()


def test_the_readme_has_both_walkthroughs():
    assert set(readme_blocks()) == {"sh", "python"}


def test_the_curl_walkthrough_runs(hone, tmp_path):
    out = run(["bash", "-euo", "pipefail", "-c", readme_blocks()["sh"]], hone, tmp_path)
    job = Job.objects.get()
    assert f"job {job.pk} is succeeded" in out
    assert '{"step":4,"value":0.5}' in out
    assert_adapter(tmp_path / "adapter.zip")


def test_the_curl_walkthrough_picks_a_base_on_a_server_with_trained_outputs(hone, tmp_path, team, tiny_model):
    """Adapters and GGUF exports of earlier jobs sort first in the model list; the walkthrough
    still trains from a model (it asks for ``usable_as=base``)."""
    from jobs.models import ModelAsset

    for name, format, path in (("a-adapter", "adapter", "/x/adapter"), ("a-export", "gguf", "/x/m.gguf")):
        ModelAsset.objects.create(
            team=team,
            name=name,
            source="job",
            format=format,
            path=path,
            task="causal-lm",
            adapter_base=tiny_model,
        )
    out = run(["bash", "-euo", "pipefail", "-c", readme_blocks()["sh"]], hone, tmp_path)
    job = Job.objects.get()
    assert f"job {job.pk} is succeeded" in out and job.base_model == tiny_model


def test_the_python_example_runs(hone, tmp_path):
    out = run([sys.executable, "-c", readme_blocks()["python"]], hone, tmp_path)
    job = Job.objects.get()
    assert f"job {job.pk} succeeded" in out
    assert "loss 0.500" in out
    assert_adapter(tmp_path / "adapter.zip")
