"""The vLLM serving Deployment and Service (jobs/executors/k8s_serving.py, printed by
``manage.py serving_manifest``) validate against the pinned Kubernetes schemas, meet Pod Security
"restricted", serve every fine-tune of the base under its OpenAI-style id, and need a GPU."""

from __future__ import annotations

import io

import kubernetes_validate
import pytest
import yaml
from django.core.management import CommandError, call_command

from api.openai_compat import ids
from jobs.executors import k8s_serving
from jobs.models import ComputeProfile, Job, ModelAsset
from tests.k8s.test_manifests import CFG, GPU, VERSIONS, assert_restricted, pod_specs

SERVED = k8s_serving.Served(
    name="serve-acme-tiny-llama-3",
    base_id="tiny-llama-3",
    base_path="/srv/hone/storage/models/tiny",
    adapters=(("ft:tiny-llama:acme:support:9", "/srv/hone/storage/runs/job-4/adapter"),),
)


@pytest.mark.parametrize("version", VERSIONS)
def test_the_serving_manifests_are_valid_kubernetes(version) -> None:
    for doc in k8s_serving.build(CFG, SERVED, GPU, image="vllm/vllm-openai:v0.11.0"):
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_pods_are_restricted_and_ask_for_the_profiles_gpus() -> None:
    docs = k8s_serving.build(CFG, SERVED, GPU, image="vllm/vllm-openai:v0.11.0")
    (pod,) = pod_specs(docs)
    assert_restricted(pod)
    container = pod["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert pod["nodeSelector"] == GPU["node_selector"] and pod["tolerations"] == GPU["tolerations"]
    args = container["args"]
    assert args[args.index("--served-model-name") + 1] == "tiny-llama-3"
    assert "--enable-lora" in args
    assert "ft:tiny-llama:acme:support:9=/srv/hone/storage/runs/job-4/adapter" in args
    assert docs[1]["spec"]["selector"] == docs[0]["spec"]["selector"]["matchLabels"]


def test_a_profile_without_gpus_is_refused() -> None:
    with pytest.raises(ValueError, match="has no GPU"):
        k8s_serving.build(
            CFG, SERVED, {"name": "cpu", "gpu_count": 0, "cpu": "2", "memory": "8Gi"}, image="x"
        )


def test_the_command_serves_the_base_and_the_teams_fine_tunes(team, other_team, tiny_model, settings) -> None:
    settings.HONE_K8S_IMAGE = "ghcr.io/example/hone:0.1.0"
    ComputeProfile.objects.create(name="gpu-a100", gpu_count=1, gpu_type="nvidia-a100-80gb", memory="64Gi")
    ComputeProfile.objects.create(name="cpu-only")
    ours, theirs = (
        ModelAsset.objects.create(
            team=t, name=f"{t.slug} tune", source="job", path=f"/srv/{t.slug}", task="causal-lm",
            format="adapter", adapter_base=tiny_model,
            produced_by=Job.objects.create(team=t, name="tune", base_model=tiny_model, status="succeeded"),
        )
        for t in (team, other_team)
    )  # fmt: skip
    out = io.StringIO()
    call_command("serving_manifest", team.slug, ids.model_id(tiny_model), "--profile", "gpu-a100", stdout=out)
    deployment, service = yaml.safe_load_all(out.getvalue())
    for doc in (deployment, service):
        kubernetes_validate.validate(doc, VERSIONS[-1], strict=True)
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert f"{ids.model_id(ours)}=/srv/{team.slug}" in args
    assert not any(theirs.path in arg for arg in args)  # another team's fine-tunes are not served
    with pytest.raises(CommandError, match="has no GPU"):
        call_command("serving_manifest", team.slug, ids.model_id(tiny_model), "--profile", "cpu-only")
    with pytest.raises(CommandError, match="does not exist"):
        call_command("serving_manifest", team.slug, ids.model_id(ours) + "9", "--profile", "gpu-a100")
