"""The OpenAI documentation's fine-tuning walk-through, unchanged but for ``base_url`` and the key,
against a live Hone with a real Celery worker and trainer: upload a file, create a job, poll its
events to the end, list checkpoints, chat with the result (whole and streamed), cancel a second job."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from api.openai_compat import ids
from jobs.models import Job
from tests.openai_compat.conftest import chat_rows, client_of, jsonl
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def client(live, live_server, member, team):
    client = client_of(live_server, member, team)
    yield client
    client.close()  # its kept-alive connection would keep a server thread's database session open


def poll_to_the_end(client, job_id: str, timeout: float = 240) -> tuple[object, list[str]]:
    """As the docs do: retrieve the job and read its events until it has finished."""
    deadline, messages = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        job = client.fine_tuning.jobs.retrieve(job_id)
        messages = [event.message for event in client.fine_tuning.jobs.list_events(job_id, limit=100)]
        if job.status in ("succeeded", "failed", "cancelled"):
            return job, messages
        time.sleep(1)
    raise AssertionError(f"{job_id} did not finish in {timeout}s; last events: {messages[:5]}")


def test_the_documented_fine_tuning_flow_runs_end_to_end(client, tiny_model) -> None:
    file = client.files.create(file=("train.jsonl", io.BytesIO(jsonl(chat_rows(48)))), purpose="fine-tune")
    held_out = client.files.create(file=("valid.jsonl", io.BytesIO(jsonl(chat_rows(8)))), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(
        model=ids.model_id(tiny_model),
        training_file=file.id,
        validation_file=held_out.id,
        suffix="demo",
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 1, "batch_size": 8}}},
    )
    assert job.status == "queued"
    job, messages = poll_to_the_end(client, job.id)
    assert job.status == "succeeded", (job.error, messages[:5])
    assert "The job has successfully completed" in messages
    assert any(message.startswith("Training started") for message in messages)
    assert job.fine_tuned_model.startswith("ft:tiny-llama:") and ":demo:" in job.fine_tuned_model

    checkpoints = list(client.fine_tuning.jobs.checkpoints.list(job.id))
    assert checkpoints, "the trainer saves checkpoints over the run"
    assert all(c.fine_tuning_job_id == job.id and c.step_number > 0 for c in checkpoints)
    assert {"train_loss", "valid_loss"} <= set(checkpoints[-1].metrics.model_dump(exclude_none=True))

    model = job.fine_tuned_model
    assert model in [m.id for m in client.models.list()]
    messages_in = [{"role": "user", "content": "Reverse the word. apple"}]
    whole = client.chat.completions.create(model=model, messages=messages_in, max_tokens=8, temperature=0)
    streamed = client.chat.completions.create(
        model=model, messages=messages_in, max_tokens=8, temperature=0, stream=True
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in streamed)
    assert text == whole.choices[0].message.content
    assert Job.objects.get(pk=ids.parse("job", job.id)).kind == "train"  # an ordinary Hone job


def test_cancelling_a_running_job(client, tiny_model) -> None:
    file = client.files.create(file=("long.jsonl", io.BytesIO(jsonl(chat_rows(48)))), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(
        model=ids.model_id(tiny_model),
        training_file=file.id,
        hyperparameters={"n_epochs": 100, "batch_size": 4},
    )
    wait_for(
        lambda: client.fine_tuning.jobs.retrieve(job.id).status == "running", timeout=120, what="a start"
    )
    assert client.fine_tuning.jobs.cancel(job.id).status == "cancelled"
    record = Job.objects.get(pk=ids.parse("job", job.id))
    wait_for(lambda: not record.attempts.filter(status__in=["starting", "running"]).exists(), timeout=60,
             what="the attempt to end")  # fmt: skip
    assert client.fine_tuning.jobs.retrieve(job.id).status == "cancelled"


README_BLOCK = re.compile(
    r"<!-- tested: tests/integration/test_openai_client\.py[^>]*-->\n```python\n(.*?)```", re.S
)


def test_the_readmes_openai_script_runs_unmodified(
    live, live_server, member, team, tiny_model, tmp_path
) -> None:
    """The README's script, with only the environment the README sets (and the tiny model's name)."""
    from jobs.management import demo_model
    from tests.api.helpers import token_for

    (script,) = README_BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8"))
    assert f'model="{demo_model.NAME}"' in script
    (tmp_path / "train.jsonl").write_bytes(jsonl(chat_rows(32)))
    (tmp_path / "script.py").write_text(script.replace(demo_model.NAME, tiny_model.name), encoding="utf-8")
    token = token_for(member, team)
    env = {
        "PATH": os.environ["PATH"],
        "OPENAI_BASE_URL": f"{live_server.url}/openai/v1",
        "OPENAI_API_KEY": token,
    }
    done = subprocess.run(
        [sys.executable, "script.py"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert "The job has successfully completed" in done.stdout
    assert f"ft:tiny-llama:{team.slug}:support:" in done.stdout
    assert token not in done.stdout + done.stderr
