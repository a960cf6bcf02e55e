"""The Kubernetes executor against an in-process fake API server, through the real client."""

from __future__ import annotations

import pytest
import yaml

from tests.k8s.fake_apiserver import FakeKubernetes

PARAMS = {"lora": {"r": 4}, "training": {"epochs": 1}}
IMAGE = "registry.example.com/hone:1.0"


@pytest.fixture
def fake_k8s():
    fake = FakeKubernetes().start()
    yield fake
    fake.stop()


@pytest.fixture
def k8s(settings, fake_k8s, tmp_path):
    """Settings for HONE_EXECUTOR=kubernetes, pointed at the fake by a kubeconfig, as a user would."""
    from jobs.executors import kubernetes

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(fake_k8s.kubeconfig("hone")))
    settings.HONE_EXECUTOR = "kubernetes"
    settings.HONE_K8S_IMAGE = IMAGE
    settings.HONE_K8S_NAMESPACE = "hone"
    settings.HONE_K8S_IN_CLUSTER = False
    settings.HONE_K8S_KUBECONFIG = str(kubeconfig)  # unique per test: a fresh executor (registry key)
    settings.HONE_K8S_API_TIMEOUT_SECONDS = 1
    settings.HONE_INGEST_URL = "http://hone-web.hone.svc:8000"
    yield fake_k8s
    kubernetes.build.cache_clear()


@pytest.fixture
def gpu_profile(db):
    from jobs.models import ComputeProfile

    return ComputeProfile.objects.create(
        name="gpu-a100",
        executor="kubernetes",
        gpu_type="nvidia-a100-80gb",
        gpu_count=1,
        cpu="8",
        memory="64Gi",
        node_selector={"nvidia.com/gpu.present": "true"},
        tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        priority_class="hone-training",
        max_runtime_seconds=7200,
    )


@pytest.fixture
def job(k8s, team, member, tiny_model, dataset, gpu_profile, django_capture_on_commit_callbacks):
    from jobs import launch
    from jobs.models import Job

    with django_capture_on_commit_callbacks():
        job = launch.launch_training(
            team=team, user=member, name="k8s", base_model=tiny_model, dataset=dataset, params=PARAMS
        )
    Job.objects.filter(pk=job.pk).update(profile=gpu_profile)
    job.refresh_from_db()
    return job
