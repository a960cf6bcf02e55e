"""The console's view of a Kubernetes cluster: GPU nodes (allocatable vs allocated, from the
nodes and every namespace's pods) and the reconciler's orphans, read by the worker through the
real client and shown from the cache."""

from __future__ import annotations

import pytest
import yaml

from console import cluster
from jobs.executors import kubernetes
from jobs.lifecycle import services
from jobs.models import Attempt, ComputeProfile
from tests.console.fake_nodes import FakeCluster, node, pod
from tests.console.helpers import queued_job
from tests.k8s.fake_apiserver import FakeKubernetes


def use_cluster(settings, tmp_path, kubeconfig: dict) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig))
    settings.HONE_EXECUTOR = "kubernetes"
    settings.HONE_K8S_IMAGE = "registry.example.com/hone:1.0"
    settings.HONE_K8S_NAMESPACE = "hone"
    settings.HONE_K8S_IN_CLUSTER = False
    settings.HONE_K8S_KUBECONFIG = str(path)  # unique per test: a fresh executor
    settings.HONE_K8S_API_TIMEOUT_SECONDS = 1
    settings.HONE_INGEST_URL = "http://hone-web.hone.svc:8000"


@pytest.fixture
def nodes(settings, tmp_path):
    fake = FakeCluster().start()
    use_cluster(settings, tmp_path, fake.kubeconfig())
    yield fake
    fake.stop()
    kubernetes.build.cache_clear()


@pytest.fixture
def k8s(settings, tmp_path):
    fake = FakeKubernetes().start()
    use_cluster(settings, tmp_path, fake.kubeconfig("hone"))
    yield fake
    fake.stop()
    kubernetes.build.cache_clear()


def test_it_counts_allocatable_and_allocated_gpus_per_node(db, nodes, monkeypatch):
    monkeypatch.setattr(cluster, "PAGE_SIZE", 2)  # several pages of each listing
    nodes.nodes = [
        node("gpu-a", 8, product="NVIDIA-A100-SXM4-80GB"),
        node("gpu-b", 4, cordoned=True),
        node("gpu-c", 2, ready=False),
        node("cpu-only", None),
    ]
    nodes.pods = [
        pod("train-1", "gpu-a", 4, namespace="hone"),
        pod("someone-else", "gpu-a", 2),
        pod("finished", "gpu-a", 2, phase="Succeeded"),
        pod("web", "cpu-only", 0),
        pod("small", "gpu-b", 1),
    ]
    view = cluster.observe()
    assert view.nodes_error == ""
    seen = {
        n.name: (n.allocatable, n.allocated, n.free, n.ready, n.schedulable, n.gpu_product)
        for n in view.nodes
    }
    assert seen == {
        "gpu-a": (8, 6, 2, True, True, "NVIDIA-A100-SXM4-80GB"),
        "gpu-b": (4, 1, 3, True, False, ""),
        "gpu-c": (2, 0, 2, False, True, ""),
    }
    assert (view.other_nodes, view.gpus_allocatable, view.gpus_allocated) == (1, 14, 7)
    pods_asked = [r for r in nodes.requests if r.startswith("/api/v1/pods")]
    assert len(pods_asked) == 2 and all("fieldSelector=status.phase" in r for r in pods_asked)


def test_it_says_how_multi_node_attempts_run_and_whether_jobset_is_installed(db, nodes):
    assert "no JobSet CRD (jobset.x-k8s.io) in this cluster" in cluster.observe().multinode
    nodes.groups.append("jobset.x-k8s.io")
    seen = cluster.observe().multinode
    assert seen.startswith("one JobSet per attempt (the JobSet CRD, jobset.x-k8s.io, is installed)")


def test_an_init_container_asking_for_more_counts_as_the_scheduler_does():
    spec = {"containers": [{"resources": {"requests": {"nvidia.com/gpu": "1"}}}],
            "initContainers": [{"resources": {"limits": {"nvidia.com/gpu": "2"}}}]}
    assert cluster.pod_gpus({"spec": spec}) == 2


@pytest.mark.parametrize(
    ("resources", "gpus"),
    [
        ({"limits": {"nvidia.com/gpu": "2"}}, 2),
        ({"requests": {"nvidia.com/gpu": "2"}}, 2),
        ({"requests": {"nvidia.com/gpu": "2"}, "limits": {"nvidia.com/gpu": "2"}}, 2),
        # The case the per-container rule missed: requests name only CPU and memory, the GPU
        # sits in limits (the API server copies it into requests).
        ({"requests": {"cpu": "4", "memory": "16Gi"}, "limits": {"nvidia.com/gpu": "2"}}, 2),
        ({"requests": {"cpu": "4"}, "limits": {"cpu": "8", "memory": "16Gi"}}, 0),
    ],
    ids=["only-limits", "only-requests", "both", "cpu-requests-gpu-limits", "no-gpu"],
)
def test_gpus_are_counted_per_resource_from_requests_else_limits(resources, gpus):
    spec = {"containers": [{"name": "a", "resources": resources}, {"name": "sidecar"}]}
    assert cluster.pod_gpus({"spec": spec}) == gpus


def test_the_capacity_page_shows_the_workers_view(operator_client, nodes):
    nodes.nodes = [node("gpu-a", 8, product="NVIDIA-H100-80GB-HBM3")]
    nodes.pods = [pod("p", "gpu-a", 3)]
    cluster.observe()  # what the worker's task does
    page = operator_client.get("/console/capacity/").content.decode()
    assert "3 of 8 GPUs allocated" in page
    assert "NVIDIA-H100-80GB-HBM3" in page


def test_without_a_recent_view_the_page_asks_the_worker_to_look(
    operator_client, nodes, monkeypatch, django_capture_on_commit_callbacks
):
    from console.tasks import observe_cluster

    asked = []
    monkeypatch.setattr(observe_cluster, "delay", lambda: asked.append(True))
    with django_capture_on_commit_callbacks(execute=True):
        page = operator_client.get("/console/capacity/").content.decode()
    assert "reading the cluster for the first time" in page
    assert asked == [True]


def test_a_service_account_without_the_cluster_role_is_told_what_to_grant(operator_client, nodes):
    nodes.status = 403
    cluster.observe()
    page = operator_client.get("/console/capacity/").content.decode()
    assert "Hone may not list nodes and pods: bind its service account (hone) to a ClusterRole" in page


def test_the_orphan_list_shows_both_kinds(operator_client, k8s, team, dataset):
    profile = ComputeProfile.objects.create(name="gpu-a100", executor="kubernetes", gpu_count=1)
    job = queued_job(team, profile=profile, dataset=dataset)
    attempt = services.dispatch(job.pk)  # a real Kubernetes Job in the fake cluster
    assert attempt is not None and k8s.state.jobs
    # The database lost track of it (say, restored from a backup): the Job has no live attempt.
    Attempt.objects.filter(pk=attempt.pk).update(status="failed")
    ghost = queued_job(team, profile=profile, dataset=dataset, name="ghost")
    Attempt.objects.create(job=ghost, number=1, executor="kubernetes", status="running")
    view = cluster.observe()
    assert view.jobs_without_attempt == [[job.pk, 1]]
    assert view.attempts_without_job == [[ghost.pk, 1]]
    assert "404" in view.nodes_error  # this fake serves no nodes; the orphans are read regardless
    page = operator_client.get("/console/orphans/").content.decode()
    assert f"hone-{job.pk}-a1: job #{job.pk}, attempt 1" in page
    assert f"job #{ghost.pk}, attempt 1" in page


def test_the_local_executor_has_no_orphans_and_says_why(operator_client):
    page = operator_client.get("/console/orphans/").content.decode()
    assert "Nothing to list with the local executor" in page
    assert "the reconciler looks at each live attempt" in page


def test_local_capacity_is_the_slots_of_each_profile(operator_client, settings, team):
    settings.HONE_LOCAL_SLOTS = 3
    ComputeProfile.objects.create(name="big-box", executor="local", slots=2)
    page = operator_client.get("/console/capacity/").content.decode()
    assert 'aria-label="0 of 3 slots in use on local"' in page
    assert 'aria-label="0 of 2 slots in use on big-box"' in page
