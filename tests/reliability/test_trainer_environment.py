"""The local executor hands the trainer its events token and the machine's environment, but none
of the platform's credentials (SECRET_KEY, the database and broker URLs): what a trainer could
print or leak never includes them."""

from __future__ import annotations

import time
from pathlib import Path

from jobs.executors.base import Submission
from jobs.executors.local import PLATFORM_SECRETS, LocalExecutor


def test_the_trainer_gets_its_token_and_no_platform_secret(tmp_path, monkeypatch) -> None:
    for name in PLATFORM_SECRETS:
        monkeypatch.setenv(name, f"secret-{name.lower()}")
    monkeypatch.setenv("HF_TOKEN", "hf_for_gated_models")
    python = tmp_path / "python"  # stands in for the trainer's interpreter: writes what it was given
    python.write_text('#!/bin/sh\nenv > "$(dirname "$4")/trainer-env.txt"\n')
    python.chmod(0o755)
    executor = LocalExecutor(tmp_path / "storage", python=str(python))
    submission = Submission(
        job_id=1, attempt_number=1, spec={}, env={"HONE_EVENTS_TOKEN": "the-attempts-token"}
    )
    executor.submit(submission)
    seen = executor.run_dir(1, 1) / "trainer-env.txt"
    deadline = time.monotonic() + 30
    while not (seen.exists() and seen.read_text().endswith("\n")) and time.monotonic() < deadline:
        time.sleep(0.05)
    given = dict(line.split("=", 1) for line in Path(seen).read_text().splitlines() if "=" in line)
    assert given["HONE_EVENTS_TOKEN"] == "the-attempts-token"
    assert given["HF_TOKEN"] == "hf_for_gated_models"
    assert not PLATFORM_SECRETS & given.keys(), sorted(PLATFORM_SECRETS & given.keys())
    assert not [k for k, v in given.items() if v.startswith("secret-")]
