"""The Kubernetes objects of one attempt: a batch/v1 Job and the Secret holding its env.

Plain dicts in the API's own field names, built from the attempt's submission and the
installation's settings (``KubeSettings``). Nothing here talks to a cluster, so
``tests/k8s`` validates exactly these objects against the Kubernetes OpenAPI schemas.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from jobs.executors.base import Submission, trainer_command

MANAGED_BY = {"app.kubernetes.io/managed-by": "hone"}
JOB_LABEL = "hone.dev/job"
ATTEMPT_LABEL = "hone.dev/attempt"
TEAM_LABEL = "hone.dev/team"
PROFILE_LABEL = "hone.dev/profile"
KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
CONTAINER = "trainer"
SECRET_SUFFIX = "-env"
# Exit codes the trainer uses for problems a retry cannot fix (see services.RETRY_EXIT_CODES_NEVER).
PERMANENT_EXIT_CODES = [2, 3]
# When a profile says nothing: a small CPU pod, as the ComputeProfile model's defaults.
DEFAULT_PROFILE = {"cpu": "2", "memory": "8Gi", "gpu_count": 0, "max_runtime_seconds": 24 * 3600}


@dataclass(frozen=True)
class KubeSettings:
    """Every setting the Kubernetes executor reads (hashable: the executor is cached by it)."""

    namespace: str
    image: str
    storage: str
    storage_claim: str
    in_cluster: bool = False
    kubeconfig: str = ""
    context: str = ""
    service_account: str = ""
    image_pull_secret: str = ""
    trainer_secret: str = ""
    kueue_queue: str = ""
    run_as_user: int = 10001
    grace_seconds: int = 300
    ttl_seconds: int = 3600
    api_timeout_seconds: int = 10

    @classmethod
    def from_django(cls) -> KubeSettings:
        from django.conf import settings as s

        return cls(
            namespace=s.HONE_K8S_NAMESPACE,
            image=s.HONE_K8S_IMAGE,
            storage=str(s.HONE_STORAGE),
            storage_claim=s.HONE_K8S_STORAGE_CLAIM,
            in_cluster=s.HONE_K8S_IN_CLUSTER,
            kubeconfig=s.HONE_K8S_KUBECONFIG,
            context=s.HONE_K8S_CONTEXT,
            service_account=s.HONE_K8S_SERVICE_ACCOUNT,
            image_pull_secret=s.HONE_K8S_IMAGE_PULL_SECRET,
            trainer_secret=s.HONE_K8S_TRAINER_SECRET,
            kueue_queue=s.HONE_K8S_KUEUE_QUEUE,
            run_as_user=s.HONE_K8S_RUN_AS_USER,
            grace_seconds=s.HONE_K8S_GRACE_SECONDS,
            ttl_seconds=s.HONE_K8S_TTL_SECONDS,
            api_timeout_seconds=s.HONE_K8S_API_TIMEOUT_SECONDS,
        )


def job_name(job_id: int, attempt_number: int) -> str:
    """The attempt's deterministic name: submitting twice finds the first Job (409) and adopts it."""
    return f"hone-{job_id}-a{attempt_number}"


def secret_name(job_id: int, attempt_number: int) -> str:
    return job_name(job_id, attempt_number) + SECRET_SUFFIX


def run_dir(storage: str | Path, job_id: int, attempt_number: int) -> Path:
    """The attempt's directory on the shared volume (the same path in every pod)."""
    return Path(storage) / "runs" / f"job-{job_id}" / f"attempt-{attempt_number}"


def label_value(value: str) -> str:
    """A string as a valid label value: at most 63 characters of [A-Za-z0-9-_.], alphanumeric ends."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "-", value)[:63]
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", cleaned)


def attempt_labels(job_id: int, attempt_number: int, team: str = "", profile: str = "") -> dict[str, str]:
    labels = {**MANAGED_BY, JOB_LABEL: str(job_id), ATTEMPT_LABEL: str(attempt_number)}
    if label_value(team):
        labels[TEAM_LABEL] = label_value(team)
    if label_value(profile):
        labels[PROFILE_LABEL] = label_value(profile)
    return labels


def attempt_selector(job_id: int, attempt_number: int) -> str:
    return f"{JOB_LABEL}={job_id},{ATTEMPT_LABEL}={attempt_number}"


def build_secret(cfg: KubeSettings, submission: Submission) -> dict:
    """The attempt's secret environment (the events token). Owned by the Job once it exists."""
    name = secret_name(submission.job_id, submission.attempt_number)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": cfg.namespace,
            "labels": attempt_labels(submission.job_id, submission.attempt_number, submission.team),
        },
        "type": "Opaque",
        "stringData": dict(submission.env),
    }


def owner_reference(job: dict) -> dict:
    """Makes the garbage collector delete the Secret with its Job or JobSet (TTL, cancel or by hand)."""
    meta = job["metadata"]
    return {"apiVersion": job.get("apiVersion", "batch/v1"), "kind": job.get("kind", "Job"),
            "name": meta["name"], "uid": meta["uid"]}  # fmt: skip


def build_job(cfg: KubeSettings, submission: Submission, spec_path: Path) -> dict:
    profile = {**DEFAULT_PROFILE, **{k: v for k, v in submission.profile.items() if v not in (None, "")}}
    name = job_name(submission.job_id, submission.attempt_number)
    labels = attempt_labels(
        submission.job_id, submission.attempt_number, submission.team, profile.get("name", "")
    )
    job_labels = dict(labels)
    if cfg.kueue_queue:
        job_labels[KUEUE_QUEUE_LABEL] = cfg.kueue_queue
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": cfg.namespace,
            "labels": job_labels,
            "annotations": {
                "hone.dev/spec": str(spec_path),
                "hone.dev/gpu-type": profile.get("gpu_type", ""),
            },
        },
        "spec": {
            # Hone owns retries: a failed pod fails the Job, and the reconciler decides what next.
            "backoffLimit": 0,
            "podFailurePolicy": pod_failure_policy(),
            "activeDeadlineSeconds": int(profile["max_runtime_seconds"]),
            "ttlSecondsAfterFinished": cfg.ttl_seconds,
            # With Kueue, the Job waits suspended until its queue admits it (quota, fair sharing).
            "suspend": bool(cfg.kueue_queue),
            "template": {
                "metadata": {"labels": labels},
                "spec": pod_spec(cfg, submission, profile, spec_path),
            },
        },
    }


def pod_failure_policy() -> dict:
    """How the Job controller reads a failed pod; the reconciler reads the same facts.

    Disruptions (eviction, preemption, node shutdown: the pod condition DisruptionTarget) fail
    the Job at once rather than being ``Ignore``d: an ignored failure makes the Job controller
    start a new pod behind Hone's back, with the old spec and no resume checkpoint. Hone counts
    it as a preemption (exit 143) and starts the next attempt from the latest checkpoint.
    """
    return {
        "rules": [
            {"action": "FailJob", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
            {
                "action": "FailJob",
                "onExitCodes": {"containerName": CONTAINER, "operator": "In", "values": PERMANENT_EXIT_CODES},
            },
        ]
    }


def pod_spec(cfg: KubeSettings, submission: Submission, profile: dict, spec_path: Path) -> dict:
    spec: dict = {
        "restartPolicy": "Never",  # required by podFailurePolicy; Hone retries, not the kubelet
        "automountServiceAccountToken": False,  # trainers never talk to the Kubernetes API
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": cfg.grace_seconds,  # SIGTERM → checkpoint → exit 143
        "securityContext": {  # Pod Security Standards "restricted"
            "runAsNonRoot": True,
            "runAsUser": cfg.run_as_user,
            "runAsGroup": cfg.run_as_user,
            "fsGroup": cfg.run_as_user,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container(cfg, submission, profile, spec_path)],
        "volumes": [
            {"name": "storage", "persistentVolumeClaim": {"claimName": cfg.storage_claim}},
            # PyTorch data loader workers share tensors through /dev/shm; the default 64 MiB is too small.
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}},
        ],
    }
    if profile.get("node_selector"):
        spec["nodeSelector"] = {str(k): str(v) for k, v in profile["node_selector"].items()}
    if profile.get("tolerations"):
        spec["tolerations"] = list(profile["tolerations"])
    if profile.get("priority_class"):
        spec["priorityClassName"] = profile["priority_class"]
    if cfg.service_account:
        spec["serviceAccountName"] = cfg.service_account
    if cfg.image_pull_secret:
        spec["imagePullSecrets"] = [{"name": cfg.image_pull_secret}]
    return spec


def container(cfg: KubeSettings, submission: Submission, profile: dict, spec_path: Path) -> dict:
    secret = secret_name(submission.job_id, submission.attempt_number)
    env = [
        {"name": key, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
        for key in sorted(submission.env)
    ]
    env += [
        {"name": "PYTHONUNBUFFERED", "value": "1"},
        {"name": "HF_HOME", "value": str(Path(cfg.storage) / "cache" / "huggingface")},
    ]
    result = {
        "name": CONTAINER,
        "image": cfg.image,
        "imagePullPolicy": "IfNotPresent",
        # One process, or the spec's processes per node under torchrun (trainers/torchrun.py).
        "command": trainer_command("python", submission.spec, str(spec_path)),
        "workingDir": str(spec_path.parent),
        "env": env,
        "resources": resources(profile),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [
            {"name": "storage", "mountPath": cfg.storage},
            {"name": "dshm", "mountPath": "/dev/shm"},
        ],
    }
    if cfg.trainer_secret:
        result["envFrom"] = [{"secretRef": {"name": cfg.trainer_secret, "optional": True}}]
    return result


def resources(profile: dict) -> dict:
    """Requests from the profile; a memory limit so running out is an OOMKill we can name."""
    requests = {"cpu": str(profile["cpu"]), "memory": str(profile["memory"])}
    limits = {"memory": str(profile["memory"])}
    gpus = int(profile.get("gpu_count") or 0)
    if gpus:
        # Extended resources are requested through limits (requests, if given, must equal them).
        limits["nvidia.com/gpu"] = str(gpus)
    return {"requests": requests, "limits": limits}
