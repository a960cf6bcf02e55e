"""`manage.py compute_profile`: the documented way to add a GPU compute profile."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from jobs.executors import k8s_manifest as manifest
from jobs.executors.base import Submission
from jobs.lifecycle.services import profile_fields
from jobs.models import ComputeProfile

GPU_ARGS = [
    "gpu-a100", "--executor", "kubernetes", "--gpus", "1", "--gpu-type", "nvidia-a100-80gb",
    "--cpu", "8", "--memory", "64Gi", "--node-selector", "nvidia.com/gpu.present=true",
    "--toleration", "nvidia.com/gpu:NoSchedule", "--priority-class", "hone-training",
    "--max-runtime-hours", "24",
]


@pytest.mark.django_db
def test_it_creates_a_gpu_profile_that_becomes_the_pods_resources(capsys):
    call_command("compute_profile", *GPU_ARGS)
    assert "created compute profile gpu-a100: kubernetes, 1× nvidia-a100-80gb" in capsys.readouterr().out
    profile = ComputeProfile.objects.get(name="gpu-a100")
    assert profile.tolerations == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert profile.max_runtime_seconds == 86400
    cfg = manifest.KubeSettings(namespace="hone", image="i", storage="/s", storage_claim="c")
    submission = Submission(1, 1, {}, {}, profile=profile_fields(profile))
    pod = manifest.build_job(cfg, submission, manifest.run_dir("/s", 1, 1) / "spec.json")["spec"]["template"]
    assert pod["spec"]["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert pod["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"


@pytest.mark.django_db
def test_running_it_again_updates_only_what_it_names():
    call_command("compute_profile", *GPU_ARGS)
    call_command("compute_profile", "gpu-a100", "--memory", "80Gi")
    profile = ComputeProfile.objects.get(name="gpu-a100")
    assert (profile.memory, profile.cpu, profile.gpu_count) == ("80Gi", "8", 1)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "args, message",
    [
        (["--memory", "lots"], "is not a Kubernetes quantity"),
        (["--toleration", "nvidia.com/gpu"], "write key[=value]:Effect"),
        (["--node-selector", "gpu"], "write key=value"),
    ],
)
def test_it_refuses_values_kubernetes_would_refuse(args, message):
    with pytest.raises(CommandError, match=message.replace("[", r"\[").replace("]", r"\]")):
        call_command("compute_profile", "bad", *args)
    assert not ComputeProfile.objects.filter(name="bad").exists()
