"""refusal_aware end to end through the platform: launched through the one door, run by the real
worker and trainer on the warm tiny model (it answers with the first number, so exact match is right
where the first is the larger: a deterministic check), and its rows become a dataset of the team
made by the job, with its lineage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs import launch
from jobs.data import storage
from jobs.data.datasets import create_dataset
from jobs.models import Dataset, Job, ModelAsset
from tests.conftest import jsonl_bytes
from tests.support.waiting import wait_for
from tests.trainers.test_grpo import first_number_model  # noqa: F401
from trainers.tiny import larger_number_rows

pytestmark = pytest.mark.integration

PARAMS = {"refusal_aware": {"max_completion_length": 12},
          "training": {"epochs": 1, "batch_size": 16, "learning_rate": 3e-3, "max_seq_length": 64,
                       "evals_per_run": 1, "checkpoints_per_run": 0}}  # fmt: skip


def test_a_refusal_aware_job_registers_its_rows_as_a_dataset_it_made(
    live, team, member, first_number_model: Path  # noqa: F811
):
    model = ModelAsset.objects.create(name="first-number", source="builtin", path=str(first_number_model),
                                      task="causal-lm", architecture="LlamaForCausalLM")  # fmt: skip
    upload = SimpleUploadedFile("larger.jsonl", jsonl_bytes(larger_number_rows(120, seed=3)))
    questions = create_dataset(team=team, user=member, name="larger", upload=upload)
    job = launch.launch_training(team=team, user=member, name="unsure", base_model=model, dataset=questions,
                                 method="full", objective="refusal_aware", params=PARAMS)  # fmt: skip
    wait_for(lambda: Job.objects.get(pk=job.pk).status in Job.FINISHED, timeout=240, what="the job to finish")
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    made = Dataset.objects.get(produced_by=job)
    assert (made.team, made.name, made.task) == (team, "unsure · refusal-aware rows", "chat")
    assert made.report["lineage"]["from"] == [{"id": questions.pk, "name": "larger", "role": "dataset"}]
    assert made.report["lineage"]["settings"]["refusal_aware"]["refusal"] == "I am not sure."
    rows = [json.loads(line) for line in storage.resolve(made.location).read_text().splitlines()]
    assert made.row_count == len(rows) > 90  # every training question (120 less those held out)
    replies = [row["messages"][-1]["content"] for row in rows]
    assert 0 < replies.count("I am not sure.") < len(replies)  # it knew some, not all
    assert ModelAsset.objects.filter(produced_by=job).exists()  # and the model trained on them
