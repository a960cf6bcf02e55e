"""A multi-node attempt on Kubernetes: one Indexed Job (completions = parallelism = nodes) and a
headless Service for rendezvous, valid against the Kubernetes schemas, run through the executor
against the fake API server, where one failed or evicted worker ends the attempt as a whole."""

from __future__ import annotations

import kubernetes_validate
import pytest

from jobs.executors import k8s_manifest as manifest
from jobs.executors import k8s_multinode as multinode
from jobs.executors.base import Submission
from jobs.lifecycle import services
from jobs.models import ComputeProfile, Job
from tests.k8s.fake_apiserver import mark_for_deletion
from tests.k8s.test_manifests import CFG, GPU, VERSIONS, assert_restricted
from tests.k8s.test_reconcile import reconciled, started

SHAPE = {"nodes": 2, "processes_per_node": 4, "strategy": "fsdp_hybrid_shard"}


def _submission() -> Submission:
    spec = {"kind": "train", "distributed": SHAPE}
    return Submission(12, 3, spec, {"HONE_EVENTS_TOKEN": "t"}, team="acme", profile=GPU | {"gpu_count": 4})


def _spec_path():
    return manifest.run_dir(CFG.storage, 12, 3) / "spec.json"


@pytest.mark.parametrize("version", VERSIONS)
def test_the_indexed_job_its_service_and_the_jobset_form_are_valid_kubernetes(version):
    job = multinode.indexed_job(CFG, _submission(), _spec_path())
    kubernetes_validate.validate(job, version, strict=True)
    kubernetes_validate.validate(multinode.build_service(CFG, _submission()), version, strict=True)
    jobset = multinode.build_jobset(CFG, _submission(), _spec_path())
    # JobSet is a CRD (no schema in Kubernetes' own): its replicated job is a batch/v1 Job spec.
    inner = jobset["spec"]["replicatedJobs"][0]["template"]
    kubernetes_validate.validate(
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "x"}, **inner}, version, strict=True
    )
    assert_restricted(job["spec"]["template"]["spec"])


def test_every_node_is_one_index_that_finds_rank_0_through_the_headless_service():
    job = multinode.indexed_job(CFG, _submission(), _spec_path())
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"], spec["backoffLimit"]) == (
        "Indexed",
        2,
        2,
        0,
    )
    pod = spec["template"]["spec"]
    assert pod["subdomain"] == "hone-12-a3"
    trainer = pod["containers"][0]
    assert trainer["command"] == ["python", "-m", "trainers.torchrun", str(_spec_path())]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in trainer["env"]}
    assert env["HONE_MASTER_ADDR"] == "hone-12-a3-0.hone-12-a3"
    assert env["HONE_NODE_RANK"] == {
        "fieldRef": {"fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}
    }
    service = multinode.build_service(CFG, _submission())
    assert service["spec"]["clusterIP"] == "None" and service["spec"]["publishNotReadyAddresses"] is True
    assert service["spec"]["selector"] == {"hone.dev/job": "12", "hone.dev/attempt": "3"}
    jobset = multinode.build_jobset(CFG, _submission(), _spec_path())
    assert jobset["spec"]["failurePolicy"] == {"maxRestarts": 0}
    assert jobset["spec"]["network"]["subdomain"] == "hone-12-a3"


@pytest.fixture
def two_nodes(job, gpu_profile) -> Job:
    ComputeProfile.objects.filter(pk=gpu_profile.pk).update(nodes=2)
    return job


def test_the_executor_makes_the_service_and_the_indexed_job_and_the_service_goes_with_it(two_nodes, k8s):
    attempt, name = started(two_nodes)
    created = k8s.state.jobs[name]
    assert (created["spec"]["completions"], created["spec"]["parallelism"]) == (2, 2)
    service = k8s.state.services[name]
    assert service["metadata"]["ownerReferences"][0]["uid"] == created["metadata"]["uid"]
    assert two_nodes.attempts.get().gpu_count == 2  # quotas count nodes × GPUs
    k8s.add_indexed_pods(name, "Running")
    attempt, _ = reconciled(attempt)
    assert attempt.status == "running"
    services.cancel(two_nodes)
    services.stop_attempts(two_nodes.pk)
    assert name not in k8s.state.services  # the garbage collector's part


def test_one_finished_worker_is_not_the_attempts_end(two_nodes, k8s):
    attempt, name = started(two_nodes)
    rank0, rank1 = k8s.add_indexed_pods(name, "Running")
    rank1["status"]["phase"] = "Succeeded"
    k8s.set_container(rank1, {"terminated": {"exitCode": 0}})
    attempt, _ = reconciled(attempt)
    assert attempt.status == "running"


def test_one_worker_failing_ends_the_attempt_as_a_whole_with_its_error_in_the_log(two_nodes, k8s):
    attempt, name = started(two_nodes)
    rank0, rank1 = k8s.add_indexed_pods(name, "Running")
    k8s.state.logs[rank0["metadata"]["name"]] = b"rank 0 training\n"
    k8s.state.logs[rank1["metadata"]["name"]] = b"RuntimeError: worker 1 lost its GPU\n"
    attempt, _ = reconciled(attempt)
    # Worker 1 crashes; the Job fails (backoffLimit 0) and its controller stops worker 0 (SIGTERM).
    rank1["status"]["phase"] = "Failed"
    k8s.set_container(rank1, {"terminated": {"exitCode": 1, "reason": "Error"}})
    rank0["status"]["phase"] = "Failed"
    k8s.set_container(rank0, {"terminated": {"exitCode": 143, "reason": "Error"}})
    k8s.job_condition(name, "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
    attempt, job = reconciled(attempt)
    assert (attempt.status, attempt.exit_code) == ("failed", 1)  # the crash, not the SIGTERM it caused
    assert job.attempts.filter(number=2).exists()  # retried: the next attempt resumes from the checkpoint
    log = (services.registry.current().run_dir(job.pk, 1) / "pod.log").read_text()
    assert log.startswith("rank 0 training") and "worker 1 lost its GPU" in log


def test_an_evicted_worker_is_a_preemption_of_the_whole_attempt(two_nodes, k8s):
    attempt, name = started(two_nodes)
    rank0, rank1 = k8s.add_indexed_pods(name, "Running")
    attempt, _ = reconciled(attempt)
    evicted = {
        "type": "DisruptionTarget",
        "status": "True",
        "reason": "EvictionByEvictionAPI",
        "message": "Eviction API: evicting",
    }
    rank1["status"] = {"phase": "Failed", "conditions": [evicted]}
    k8s.set_container(rank1, {"terminated": {"exitCode": 143, "reason": "Error"}})
    k8s.job_condition(name, "Failed", "PodFailurePolicy", "Container trainer for pod was disrupted")
    # The Job controller deletes rank 0, which saves the checkpoint in its grace period.
    mark_for_deletion(rank0)
    attempt, job = reconciled(attempt)
    assert attempt.status == "running" and attempt.reason.startswith("stopping: a worker ended the attempt")
    assert not job.attempts.filter(number=2).exists()
    k8s.end_grace_period()
    attempt, job = reconciled(attempt)
    assert (attempt.status, attempt.exit_code) == ("preempted", 143)
    assert job.attempts.filter(number=2).exists()


def test_with_the_jobset_crd_the_attempt_is_one_jobset_whose_child_job_the_reconciler_reads(two_nodes, k8s):
    k8s.state.api_groups.append("jobset.x-k8s.io")
    attempt, name = started(two_nodes)
    jobset = k8s.state.jobsets[name]
    assert name not in k8s.state.jobs and name not in k8s.state.services  # the JobSet controller's part
    assert jobset["spec"]["replicatedJobs"][0]["template"]["spec"]["completions"] == 2
    owner = k8s.state.secrets[f"{name}-env"]["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["uid"]) == ("JobSet", jobset["metadata"]["uid"])
    child = k8s.run_jobset_controller(name)
    rank0, rank1 = k8s.add_indexed_pods(child, "Running")
    attempt, _ = reconciled(attempt)
    assert attempt.status == "running"
    for pod, code in ((rank1, 1), (rank0, 143)):  # worker 1 crashes; JobSet's controller stops worker 0
        pod["status"]["phase"] = "Failed"
        k8s.set_container(pod, {"terminated": {"exitCode": code, "reason": "Error"}})
    k8s.job_condition(child, "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
    attempt, job = reconciled(attempt)
    assert (attempt.status, attempt.exit_code) == ("failed", 1)
    assert job.attempts.filter(number=2).exists()


def test_cancelling_a_jobset_attempt_deletes_the_jobset_and_everything_it_made(two_nodes, k8s):
    k8s.state.api_groups.append("jobset.x-k8s.io")
    attempt, name = started(two_nodes)
    child = k8s.run_jobset_controller(name)
    k8s.add_indexed_pods(child, "Running")
    reconciled(attempt)
    services.cancel(two_nodes)
    services.stop_attempts(two_nodes.pk)
    assert not k8s.state.jobsets and not k8s.state.jobs and not k8s.state.secrets
    assert all(p["metadata"].get("deletionTimestamp") for p in k8s.state.pods.values())  # grace period
    k8s.end_grace_period()
    attempt, job = reconciled(attempt)
    assert (attempt.status, job.status) == ("cancelled", "cancelled")
