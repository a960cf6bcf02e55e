"""Submitting attempts as Kubernetes Jobs: the Job's shape, adoption, and an unreliable API."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from datetime import timedelta

from django.utils import timezone

from jobs.executors import kubernetes, registry
from jobs.executors.k8s_manifest import KubeSettings, job_name
from jobs.lifecycle import services
from jobs.models import Attempt, Job
from tests.k8s.conftest import IMAGE


def token_in_secret(fake, name: str) -> str:
    return base64.b64decode(fake.state.secrets[name + "-env"]["data"]["HONE_EVENTS_TOKEN"]).decode()


def test_submit_creates_a_job_shaped_by_the_compute_profile(job, k8s):
    attempt = services.dispatch(job.pk)
    attempt.refresh_from_db()
    name = job_name(job.pk, 1)
    assert attempt.external_id == f"hone/{name}"
    created = k8s.state.jobs[name]
    labels = created["metadata"]["labels"]
    assert labels["hone.dev/job"] == str(job.pk) and labels["hone.dev/attempt"] == "1"
    assert labels["hone.dev/team"] == "acme" and labels["app.kubernetes.io/managed-by"] == "hone"
    spec = created["spec"]
    assert (spec["backoffLimit"], spec["activeDeadlineSeconds"], spec["suspend"]) == (0, 7200, False)
    assert spec["ttlSecondsAfterFinished"] == 3600
    rules = spec["podFailurePolicy"]["rules"]
    assert rules[0]["onPodConditions"] == [{"type": "DisruptionTarget", "status": "True"}]
    assert rules[1]["onExitCodes"]["values"] == [2, 3]
    pod = spec["template"]["spec"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert pod["priorityClassName"] == "hone-training"
    assert pod["automountServiceAccountToken"] is False and pod["restartPolicy"] == "Never"
    assert pod["terminationGracePeriodSeconds"] == 300
    assert pod["securityContext"]["runAsNonRoot"] is True
    trainer = pod["containers"][0]
    assert trainer["image"] == IMAGE
    assert trainer["resources"]["limits"] == {"memory": "64Gi", "nvidia.com/gpu": "1"}
    assert trainer["resources"]["requests"] == {"cpu": "8", "memory": "64Gi"}
    assert trainer["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    spec_path = registry.current().run_dir(job.pk, 1) / "spec.json"
    assert trainer["command"] == ["python", "-m", "trainers", "run", str(spec_path)]
    secret_ref = {"secretKeyRef": {"name": f"{name}-env", "key": "HONE_EVENTS_TOKEN"}}
    assert {"name": "HONE_EVENTS_TOKEN", "valueFrom": secret_ref} in trainer["env"]


def test_the_token_travels_in_an_owned_secret_and_never_in_the_spec(job, k8s):
    attempt = services.dispatch(job.pk)
    attempt.refresh_from_db()
    name = job_name(job.pk, 1)
    token = token_in_secret(k8s, name)
    assert hashlib.sha256(token.encode()).hexdigest() == attempt.token_hash
    owners = k8s.state.secrets[name + "-env"]["metadata"]["ownerReferences"]
    assert owners == [{"apiVersion": "batch/v1", "kind": "Job", "name": name,
                       "uid": k8s.state.jobs[name]["metadata"]["uid"]}]
    spec_text = (registry.current().run_dir(job.pk, 1) / "spec.json").read_text()
    assert token not in spec_text
    assert json.loads(spec_text)["events"]["url"] == f"http://hone-web.hone.svc:8000/api/v1/attempts/{job.pk}/1/events"
    secret_posts = k8s.requests("POST", "/secrets")
    job_posts = k8s.requests("POST", "/jobs")
    assert k8s.state.requests.index(secret_posts[0]) < k8s.state.requests.index(job_posts[0])


def test_submitting_twice_adopts_the_job_and_refreshes_the_token(job, k8s):
    attempt = services.dispatch(job.pk)
    services.submit(attempt)
    attempt.refresh_from_db()
    assert list(k8s.state.jobs) == [job_name(job.pk, 1)]
    assert len(k8s.requests("POST", "/jobs")) == 2  # the second answered 409 and was adopted
    token = token_in_secret(k8s, job_name(job.pk, 1))
    assert hashlib.sha256(token.encode()).hexdigest() == attempt.token_hash
    assert attempt.status == "starting"


def test_a_restarted_worker_adopts_the_job_it_submitted_before(job, k8s):
    from jobs.executors.base import Submission

    services.dispatch(job.pk)
    restarted = kubernetes.KubernetesExecutor(KubeSettings.from_django())  # a new process, no memory
    submission = Submission(job.pk, 1, job.spec, {"HONE_EVENTS_TOKEN": "t"}, team="acme")
    assert restarted.submit(submission) == f"hone/{job_name(job.pk, 1)}"
    assert len(k8s.state.jobs) == 1
    assert restarted.observe(job.pk, 1).phase == "pending"


def test_a_server_error_on_submit_leaves_the_attempt_waiting_then_it_is_submitted_once(job, k8s):
    k8s.fail("POST", "/jobs", status=500)
    attempt = services.dispatch(job.pk)
    attempt.refresh_from_db()
    assert (attempt.status, attempt.external_id) == ("starting", "")
    assert not k8s.state.jobs
    services.reconcile()  # too soon to tell a slow submit from a lost one: nothing happens
    attempt.refresh_from_db()
    assert (attempt.status, Job.objects.get(pk=job.pk).status) == ("starting", "starting")
    assert not k8s.state.jobs
    Attempt.objects.filter(pk=attempt.pk).update(created_at=timezone.now() - timedelta(minutes=2))
    services.reconcile()
    attempt.refresh_from_db()
    assert list(k8s.state.jobs) == [job_name(job.pk, 1)]
    assert attempt.external_id == f"hone/{job_name(job.pk, 1)}" and attempt.status == "starting"


def test_a_submit_that_times_out_after_the_job_was_made_never_makes_a_second(job, k8s):
    k8s.delay("POST", "/jobs", 1.5)  # the client gives up at 1 s; the server creates it anyway
    attempt = services.dispatch(job.pk)
    attempt.refresh_from_db()
    assert (attempt.status, attempt.external_id) == ("starting", "")
    deadline = time.monotonic() + 5
    while not k8s.state.jobs and time.monotonic() < deadline:  # the server is still at it
        time.sleep(0.05)
    assert list(k8s.state.jobs) == [job_name(job.pk, 1)]
    Attempt.objects.filter(pk=attempt.pk).update(created_at=timezone.now() - timedelta(minutes=2))
    k8s.add_pod(job_name(job.pk, 1), "Running")
    services.reconcile()
    attempt.refresh_from_db()
    assert attempt.status == "running"
    assert len(k8s.state.jobs) == 1 and Attempt.objects.filter(job=job).count() == 1


def test_a_refused_job_fails_the_attempt_with_the_apis_message(job, k8s, settings):
    k8s.fail("POST", "/jobs", status=403, times=5)
    attempt = services.dispatch(job.pk)
    attempt.refresh_from_db()
    assert attempt.status == "failed" and attempt.exit_code == 1
    assert "Kubernetes refused to create its Job: 403" in attempt.reason


def test_the_registry_builds_one_executor_per_configuration(k8s, settings):
    first = registry.current()
    assert registry.current() is first
    settings.HONE_K8S_NAMESPACE = "other"
    assert registry.current() is not first and registry.current().cfg.namespace == "other"
