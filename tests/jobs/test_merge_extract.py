"""A LoRA extraction through the one launch path: the job's spec runs, and its adapter output becomes a
model of the team on the right base, which peft loads."""

from __future__ import annotations

import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from jobs import launch
from jobs.assets import lineage
from jobs.lifecycle import specs
from jobs.models import Artifact, Job, ModelAsset
from tests.trainers.merge.conftest import run_merge_spec


@pytest.fixture
def tuned(team, tiny_model_dir, tmp_path) -> ModelAsset:
    """tiny_model with its attention projections changed: a stand-in for a full fine-tune."""
    path = tmp_path / "tuned"
    shutil.copytree(tiny_model_dir, path)
    state = load_file(path / "model.safetensors")
    noise = torch.Generator().manual_seed(0)
    for name, tensor in state.items():
        if "_proj." in name:
            state[name] = tensor + torch.randn(tensor.shape, generator=noise) * 0.01
    save_file(state, path / "model.safetensors", metadata={"format": "pt"})
    return ModelAsset.objects.create(
        team=team,
        name="tuned",
        source="local",
        path=str(path),
        task="causal-lm",
        architecture="LlamaForCausalLM",
    )


def test_an_extracted_adapter_is_registered_on_its_base_and_loads(
    team, member, tiny_model, tuned, _storage, django_capture_on_commit_callbacks
):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    with django_capture_on_commit_callbacks(execute=False):
        job = launch.launch_job(
            Job.Kind.MERGE, team=team, user=member, name="extract",
            params={"method": "lora_extract", "params": {"rank": 8}},
            models=[("base", tiny_model, None), ("model", tuned, None)],
        )  # fmt: skip
    result = run_merge_spec(specs.build_spec(job, 1, None))
    assert result.code == 0, result.error
    [event] = result.of_kind("artifact")
    assert event["artifact_kind"] == "adapter"
    location = specs.output_dir(job).relative_to(_storage)
    Artifact.objects.create(
        job=job,
        name="adapter",
        kind="adapter",
        location=str(location),
        bytes=event["bytes"],
        sha256=event["sha256"],
    )
    [asset] = lineage.register_outputs(job)
    assert (asset.format, asset.adapter_base) == ("adapter", tiny_model)
    metrics = {e["name"]: e["value"] for e in result.of_kind("metric")}
    assert 0 < metrics["reconstruction_error"] < 1 and metrics["change_outside_adapter"] == 0
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model.path), asset.path)
    assert any("lora_A" in name for name, _ in model.named_parameters())


def test_extracting_from_a_model_of_another_size_is_refused_at_launch(
    team, member, tiny_model, tmp_path, django_capture_on_commit_callbacks
):
    from trainers.tiny import build_tiny_llama

    narrow = ModelAsset.objects.create(
        team=team, name="narrow", source="local", task="causal-lm",
        path=str(build_tiny_llama(tmp_path / "narrow", hidden_size=32)),
    )  # fmt: skip
    with pytest.raises(launch.LaunchRefused) as refused:
        launch.launch_job(
            Job.Kind.MERGE, team=team, user=member, name="extract",
            params={"method": "lora_extract", "params": {"rank": 8}},
            models=[("base", tiny_model, None), ("model", narrow, None)],
        )  # fmt: skip
    assert "models[0] 'narrow'" in str(refused.value.problems)
    assert not Job.objects.exists()
