"""The parallelism strategy in the guided set-up: offered among the advanced settings only where the
default profile runs several processes, shown on the review as the user's choice, kept in the job's
params, and a strategy that cannot run there refused at its field before anything is created."""

from __future__ import annotations

import pytest

from jobs.models import ComputeProfile, Job
from tests.jobs.test_views_wizard import url


@pytest.fixture
def choices(tiny_model, dataset) -> dict:
    return {"goal": "chat", "dataset": dataset.pk, "model": tiny_model.pk, "max_length": 64}


@pytest.fixture
def two_processes(settings):
    ComputeProfile.objects.create(name="cpu-2-procs", cpu="2", memory="8Gi", processes_per_node=2)
    settings.HONE_DEFAULT_PROFILE = "cpu-2-procs"


def test_one_process_offers_no_strategy(client, member, choices):
    client.force_login(member)
    body = client.get(url("method", **choices)).content.decode()
    assert 'name="strategy"' not in body and "Several processes" not in body


def test_several_processes_offer_it_and_the_review_and_job_keep_the_choice(
    client, member, choices, two_processes
):
    client.force_login(member)
    body = client.get(url("method", **choices)).content.decode()
    assert "Several processes" in body and '<option value="ddp">ddp</option>' in body
    review = client.get(url("review", **choices, strategy="ddp")).content.decode()
    assert "2 CPU processes (2 processes)" in review and "as you chose" in review
    auto = client.get(url("review", **choices)).content.decode()
    assert "as you chose" not in auto
    response = client.post(url("review"), {**choices, "strategy": "ddp", "name": "two ranks"})
    assert response.status_code == 302
    assert Job.objects.get(name="two ranks").params["distributed"] == {"strategy": "ddp"}


def test_a_strategy_that_cannot_run_on_cpu_processes_is_refused_at_its_field(
    client, member, choices, two_processes
):
    client.force_login(member)
    response = client.post(url("review"), {**choices, "strategy": "fsdp_full_shard", "name": "sharded"})
    body = response.content.decode()
    assert response.status_code == 200 and not Job.objects.filter(name="sharded").exists()
    assert 'id="id_strategy_error"><li>fsdp_full_shard shards the model across GPUs; on CPU processes' in body
