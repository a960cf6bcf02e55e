"""The container image recipe. No Docker engine here, so these read the Dockerfile and the
entrypoint; the image itself is built by CI or the operator (docs/deploy-kubernetes.md)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_the_image_is_multi_stage_pinned_and_runs_as_the_pods_user():
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11\.\d+-slim-bookworm$", DOCKERFILE, re.M)
    assert len(re.findall(r"^FROM ", DOCKERFILE, re.M)) == 2
    assert re.search(r"^USER 10001:10001$", DOCKERFILE, re.M)  # = HONE_K8S_RUN_AS_USER, runAsUser
    assert '"torch==2.13.0"' in DOCKERFILE and "${TORCH_VARIANT}" in DOCKERFILE


def test_the_build_context_leaves_out_local_state_and_secrets():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for path in (".git", ".venv", "var", "tests"):
        assert path in ignored


def test_the_entrypoint_dispatches_each_role(tmp_path):
    # Run the real script with stand-ins for gunicorn, celery and python that print their argv.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("gunicorn", "celery", "python"):
        (bin_dir / tool).write_text(f'#!/bin/sh\necho {tool} "$@"\n')
        (bin_dir / tool).chmod(0o755)
    script = ROOT / "scripts" / "container-entrypoint"
    text = script.read_text().replace("cd /app", f"cd {tmp_path}")
    (tmp_path / "entrypoint").write_text(text)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}

    def run(*args: str) -> str:
        return subprocess.run(["sh", str(tmp_path / "entrypoint"), *args], env=env, capture_output=True,
                              text=True, check=True).stdout.strip()

    assert run("web").startswith("gunicorn hone.wsgi:application --bind 0.0.0.0:8000")
    assert run("worker").startswith("celery -A hone worker")
    assert run("beat").startswith("celery -A hone beat")
    assert run("migrate") == "python manage.py migrate --noinput"
    assert run("trainer", "run", "/srv/spec.json") == "python -m trainers run /srv/spec.json"
