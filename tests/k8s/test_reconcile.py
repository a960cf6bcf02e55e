"""The reconciler over Kubernetes: what a Job and its pod show becomes the attempt's fate."""

from __future__ import annotations

import json

import pytest

from jobs import launch
from jobs.executors import kubernetes, registry
from jobs.executors.k8s_manifest import job_name
from jobs.lifecycle import services, specs
from jobs.models import Attempt, Event, Job

UNSCHEDULABLE = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu. preemption: 0/3 nodes are available."


def started(job: Job) -> tuple[Attempt, str]:
    attempt = services.dispatch(job.pk)
    assert attempt is not None
    attempt.refresh_from_db()
    return attempt, job_name(job.pk, attempt.number)


def reconciled(attempt: Attempt) -> tuple[Attempt, Job]:
    services.reconcile()
    attempt.refresh_from_db()
    return attempt, Job.objects.get(pk=attempt.job_id)


def terminated(fake, name: str, exit_code: int, reason: str = "Error", **pod_status) -> dict:
    """The Job's one pod (backoffLimit 0) ends, as the kubelet would report it."""
    pod = fake.pod_of(name) or fake.add_pod(name)
    pod["status"] = {"phase": "Failed", **pod_status}
    fake.set_container(pod, {"terminated": {"exitCode": exit_code, "reason": reason}})
    return pod


@pytest.fixture
def second_job(team, member, tiny_model, dataset):
    from tests.k8s.conftest import PARAMS

    return launch.launch_training(
        team=team, user=member, name="two", base_model=tiny_model, dataset=dataset, params=PARAMS
    )


def test_an_unschedulable_pod_keeps_the_attempt_waiting_with_the_schedulers_message(job, k8s):
    attempt, name = started(job)
    scheduled = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                 "message": UNSCHEDULABLE}
    pod = k8s.add_pod(name, "Pending", conditions=[scheduled])
    attempt, job = reconciled(attempt)
    assert (attempt.status, job.status) == ("starting", "starting")
    assert attempt.reason == UNSCHEDULABLE
    pod["status"] = {"phase": "Running"}
    attempt, job = reconciled(attempt)
    assert (attempt.status, job.status, attempt.reason) == ("running", "running", "")


def test_an_image_that_cannot_be_pulled_fails_fast_and_is_not_retried(job, k8s):
    attempt, name = started(job)
    pod = k8s.add_pod(name, "Pending")
    message = 'Back-off pulling image "registry.example.com/hone:1.0": not found'
    k8s.set_container(pod, {"waiting": {"reason": "ImagePullBackOff", "message": message}})
    attempt, job = reconciled(attempt)
    assert (attempt.status, attempt.exit_code, job.status) == ("failed", 2, "failed")
    assert attempt.reason.startswith(f"ImagePullBackOff: {message}")
    assert job.attempts.count() == 1
    deleted = k8s.requests("DELETE", f"/jobs/{name}")
    assert deleted and deleted[0].query["propagationPolicy"] == "Background"
    assert name not in k8s.state.jobs


def test_an_oomkilled_trainer_fails_without_retry_and_says_so(job, k8s):
    attempt, name = started(job)
    terminated(k8s, name, 137, "OOMKilled")
    k8s.job_condition(name, "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
    attempt, job = reconciled(attempt)
    assert (attempt.status, attempt.exit_code, job.status) == ("failed", 3, "failed")
    assert attempt.reason.startswith("OOMKilled: ")
    assert "more memory" in job.error
    assert job.attempts.count() == 1


@pytest.mark.parametrize(
    "pod_status",
    [
        {"conditions": [{"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI",
                         "message": "Eviction API: evicting"}]},
        {"conditions": [{"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
                         "message": "Preempted by a pod of higher priority"}]},
        {"reason": "Evicted", "message": "The node was low on resource: memory."},
    ],
    ids=["eviction-api", "scheduler-preemption", "node-pressure"],
)
def test_a_disrupted_pod_requeues_the_job_and_the_next_attempt_resumes_from_the_checkpoint(
    job, k8s, pod_status
):
    checkpoint = specs.output_dir(job) / "checkpoints" / "checkpoint-10"
    checkpoint.mkdir(parents=True)
    (checkpoint / "trainer_state.json").write_text("{}")
    attempt, name = started(job)
    terminated(k8s, name, 143, **pod_status)
    k8s.job_condition(name, "Failed", "PodFailurePolicy", "Pod has condition DisruptionTarget")
    attempt, job = reconciled(attempt)  # the same pass dispatches the requeued job
    assert (attempt.status, attempt.exit_code) == ("preempted", 143)
    second = job.attempts.get(number=2)
    assert second.resumed_from == str(checkpoint)
    assert job.status == "starting" and job.spec["resume_from"] == str(checkpoint)
    assert job_name(job.pk, 2) in k8s.state.jobs
    spec = json.loads((registry.current().run_dir(job.pk, 2) / "spec.json").read_text())
    assert spec["resume_from"] == str(checkpoint) and spec["attempt"] == 2


def test_a_job_past_its_deadline_fails_with_the_limit_and_is_not_retried(job, k8s):
    attempt, name = started(job)
    k8s.job_condition(name, "Failed", "DeadlineExceeded", "Job was active longer than specified deadline")
    attempt, job = reconciled(attempt)
    assert (attempt.status, attempt.exit_code, job.status) == ("failed", 124, "failed")
    assert attempt.reason.startswith("DeadlineExceeded: ") and "7200 s" in attempt.reason
    assert job.attempts.count() == 1


def test_a_plain_failure_is_retried(job, k8s):
    attempt, name = started(job)
    terminated(k8s, name, 1)
    k8s.job_condition(name, "Failed", "BackoffLimitExceeded", "")
    attempt, job = reconciled(attempt)
    assert (attempt.status, attempt.exit_code) == ("failed", 1)
    assert job.attempts.filter(number=2).exists()


def test_success_ingests_events_from_the_pod_log_and_keeps_the_log(job, k8s):
    attempt, name = started(job)
    pod = k8s.add_pod(name, "Succeeded")
    k8s.set_container(pod, {"terminated": {"exitCode": 0, "reason": "Completed"}})
    events = [
        {"seq": 1, "kind": "started", "time": "2026-01-01T00:00:00+00:00", "total_steps": 4},
        {"seq": 2, "kind": "progress", "time": "2026-01-01T00:00:01+00:00", "step": 4, "total": 4},
    ]
    k8s.state.logs[pod["metadata"]["name"]] = (
        b"Traceback-free stderr noise\n" + b"".join(json.dumps(e).encode() + b"\n" for e in events)
    )
    k8s.job_condition(name, "Complete")
    attempt, job = reconciled(attempt)
    assert (attempt.status, job.status) == ("succeeded", "succeeded")
    assert list(Event.objects.filter(attempt=attempt).values_list("seq", flat=True)) == [1, 2]
    run_dir = registry.current().run_dir(job.pk, 1)
    assert (run_dir / "pod.log").read_bytes() == k8s.state.logs[pod["metadata"]["name"]]
    assert json.loads((run_dir / "exit.json").read_text())["exit_code"] == 0


def test_one_pass_lists_jobs_and_pods_once_whatever_the_number_of_attempts(job, second_job, k8s):
    for j in (job, second_job):
        _, name = started(j)
        k8s.add_pod(name, "Running")
    k8s.state.requests.clear()
    services.reconcile()
    assert Attempt.objects.filter(status="running").count() == 2
    gets = [r for r in k8s.requests("GET") if not r.path.endswith("/log")]  # logs: events recovery
    assert [r.path for r in gets] == ["/apis/batch/v1/namespaces/hone/jobs", "/api/v1/namespaces/hone/pods"]


def test_an_expired_listing_410_is_listed_again_from_the_start(job, second_job, k8s, monkeypatch):
    monkeypatch.setattr(kubernetes, "PAGE_SIZE", 1)  # two Jobs: a listing of two pages
    attempt, name = started(job)
    _, other = started(second_job)
    executor = registry.current()
    k8s.add_pod(name, "Running")
    k8s.state.expire_continue_tokens = 1
    k8s.state.requests.clear()
    executor.start_pass()
    job_lists = k8s.requests("GET", "/namespaces/hone/jobs")
    continues = [r.query.get("continue") for r in job_lists]
    assert continues == [None, "1", None, "1"]  # page 1, 410 on page 2, then all over again
    assert set(executor.snapshot.jobs) == {name, other}
    assert executor.observe(job.pk, attempt.number).phase == "running"


@pytest.mark.parametrize("fault", ["5xx", "timeout"])
def test_an_api_that_fails_while_observing_changes_nothing(job, k8s, fault):
    attempt, name = started(job)
    k8s.add_pod(name, "Running")
    attempt, _ = reconciled(attempt)
    assert attempt.status == "running"
    terminated(k8s, name, 1)
    if fault == "5xx":
        k8s.fail("GET", "/jobs", status=503, times=10)
    else:
        k8s.delay("GET", "/jobs", 1.5, then_process=False)
    attempt, job = reconciled(attempt)
    assert (attempt.status, job.status, attempt.exit_code) == ("running", "running", None)
    assert job.attempts.count() == 1
    k8s.state.faults.clear()
    attempt, job = reconciled(attempt)  # the API is back: now it sees the failure
    assert attempt.status == "failed"


def test_a_running_job_that_no_live_attempt_owns_is_stopped(job, k8s):
    executor = registry.current()
    executor.submit(_orphan_submission())
    k8s.add_pod("hone-999-a1", "Running")
    attempt, name = started(job)
    orphans = executor.find_orphans()
    assert orphans.jobs_without_attempt == [(999, 1)]
    services.reconcile()
    assert "hone-999-a1" not in k8s.state.jobs and name in k8s.state.jobs
    assert k8s.requests("DELETE", "/jobs/hone-999-a1")[0].query["propagationPolicy"] == "Background"


def test_a_live_attempt_whose_job_vanished_is_reported_then_failed_and_retried(job, k8s):
    attempt, name = started(job)
    del k8s.state.jobs[name]  # deleted behind Hone's back
    executor = registry.current()
    assert executor.find_orphans().attempts_without_job == [(job.pk, 1)]
    attempt, job = reconciled(attempt)
    assert attempt.status == "failed" and "Kubernetes Job is gone" in attempt.reason
    assert job.attempts.filter(number=2).exists()


def test_cancel_deletes_the_job_in_the_background_and_the_attempt_ends_cancelled(job, k8s):
    attempt, name = started(job)
    k8s.add_pod(name, "Running")
    services.reconcile()
    assert services.cancel(job)
    services.stop_attempts(job.pk)  # what the stop_attempts task runs after commit
    delete = k8s.requests("DELETE", f"/jobs/{name}")
    assert [d.query["propagationPolicy"] for d in delete] == ["Background"]
    assert not k8s.state.secrets  # the garbage collector's part
    assert k8s.pod_of(name)["metadata"]["deletionTimestamp"]  # its grace period: SIGTERM, a checkpoint
    attempt, job = reconciled(attempt)
    assert attempt.status == "running" and attempt.reason == "stopping"
    k8s.end_grace_period()
    attempt, job = reconciled(attempt)
    assert (attempt.status, job.status) == ("cancelled", "cancelled")


def test_with_kueue_the_job_waits_suspended_and_a_later_suspension_is_a_preemption(job, k8s, settings):
    settings.HONE_K8S_KUEUE_QUEUE = "team-a"
    attempt, name = started(job)
    created = k8s.state.jobs[name]
    assert created["spec"]["suspend"] is True
    assert created["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"
    attempt, _ = reconciled(attempt)
    assert attempt.status == "starting" and "Kueue queue 'team-a'" in attempt.reason
    created["spec"]["suspend"] = False  # admitted
    pod = k8s.add_pod(name, "Running")
    attempt, _ = reconciled(attempt)
    assert attempt.status == "running"
    k8s.suspend_job(name)  # Kueue takes the quota back
    assert pod["status"]["phase"] == "Running"  # its grace period: SIGTERM, then a checkpoint
    k8s.end_grace_period()
    attempt, job = reconciled(attempt)
    assert (attempt.status, attempt.exit_code) == ("preempted", 143)
    assert job.attempts.filter(number=2).exists()


def test_a_suspended_attempt_is_stopping_until_its_pod_has_saved_its_checkpoint_and_gone(job, k8s, settings):
    """The pod outlives the suspension by its grace period; the next attempt must not be
    dispatched (and pick its checkpoint) before the old pod has written its SIGTERM one."""
    settings.HONE_K8S_KUEUE_QUEUE = "team-a"
    attempt, name = started(job)
    k8s.state.jobs[name]["spec"]["suspend"] = False  # admitted
    k8s.add_pod(name, "Running")
    attempt, _ = reconciled(attempt)
    assert attempt.status == "running"
    k8s.suspend_job(name)
    for _ in range(2):  # however many passes the grace period lasts
        attempt, job = reconciled(attempt)
        assert attempt.status == "running"
        assert attempt.reason.startswith("stopping: Kueue took the quota back")
        assert not job.attempts.filter(number=2).exists()
    k8s.end_grace_period()
    attempt, job = reconciled(attempt)
    assert (attempt.status, attempt.exit_code) == ("preempted", 143)
    assert job.attempts.filter(number=2).exists()


def _orphan_submission():
    from jobs.executors.base import Submission

    return Submission(999, 1, {"job_id": 999}, {"HONE_EVENTS_TOKEN": "x"}, team="gone")
