"""The Kubernetes objects of a multi-node attempt: one Indexed Job and a headless Service.

An attempt whose spec spans N nodes (``distributed.nodes``) is one batch/v1 Job with
``completionMode: Indexed`` and ``completions = parallelism = N``: pod i (its completion index)
is node rank i, and is reachable as ``<job>-<i>.<job>`` through a headless Service of the
same name (the pods' ``subdomain``). torchrun on every pod meets the others at pod 0
(static rendezvous, ``trainers/torchrun.py``), from the environment set here.

One Job keeps the single-pod rules as they are: ``backoffLimit: 0`` and the pod failure policy
fail the whole Job when any pod fails or is disrupted, and the Job controller then stops the
others (each saves nothing alone: the ranks agree to stop together only on SIGTERM); with Kueue
the Job is one workload, admitted with all N pods' quota or not at all.

A JobSet (jobset.x-k8s.io) is the same Job as its one replicated job, with the Service made by
the JobSet controller; ``build_jobset`` writes it, and the executor submits it where the cluster
has the CRD (``k8s_jobset``).
"""

from __future__ import annotations

from jobs.executors import k8s_manifest as manifest
from jobs.executors.base import Submission

RENDEZVOUS_PORT = 29500
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
JOBSET_API = "jobset.x-k8s.io/v1alpha2"
JOBSET_REPLICATED_JOB = "node"


def nodes_of(submission: Submission) -> int:
    return int((submission.spec.get("distributed") or {}).get("nodes", 1))


def service_name(job_id: int, attempt_number: int) -> str:
    return manifest.job_name(job_id, attempt_number)


def build_service(cfg: manifest.KubeSettings, submission: Submission) -> dict:
    """Headless: no virtual IP, one DNS record per pod (``<job>-<index>.<job>``), published
    before the pods are ready (trainers have no readiness probe; rank 0 must be found at once)."""
    labels = manifest.attempt_labels(submission.job_id, submission.attempt_number, submission.team)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": service_name(submission.job_id, submission.attempt_number),
            "namespace": cfg.namespace,
            "labels": labels,
        },
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": {k: labels[k] for k in (manifest.JOB_LABEL, manifest.ATTEMPT_LABEL)},
            "ports": [{"name": "rendezvous", "port": RENDEZVOUS_PORT, "protocol": "TCP"}],
        },
    }


def make_indexed(cfg: manifest.KubeSettings, submission: Submission, job: dict, master: str) -> dict:
    """``job`` (manifest.build_job) as N indexed pods with the rendezvous environment."""
    nodes = nodes_of(submission)
    spec = job["spec"]
    spec.update(completionMode="Indexed", completions=nodes, parallelism=nodes)
    pod = spec["template"]["spec"]
    pod["subdomain"] = service_name(submission.job_id, submission.attempt_number)
    container = pod["containers"][0]
    container["env"] += rendezvous_env(cfg, master)
    container["ports"] = [{"name": "rendezvous", "containerPort": RENDEZVOUS_PORT, "protocol": "TCP"}]
    job["metadata"]["annotations"]["hone.dev/nodes"] = str(nodes)
    return job


def rendezvous_env(cfg: manifest.KubeSettings, master: str) -> list[dict]:
    index = {"fieldRef": {"fieldPath": f"metadata.annotations['{INDEX_ANNOTATION}']"}}
    return [
        {"name": "HONE_NODE_RANK", "valueFrom": index},
        {"name": "HONE_MASTER_ADDR", "value": master},
        {"name": "HONE_MASTER_PORT", "value": str(RENDEZVOUS_PORT)},
        # torchrun's time for the workers' SIGTERM checkpoint, inside the pod's grace period.
        {"name": "HONE_SHUTDOWN_TIMEOUT", "value": str(max(cfg.grace_seconds - 15, 10))},
    ]


def indexed_job(cfg: manifest.KubeSettings, submission: Submission, spec_path) -> dict:
    name = manifest.job_name(submission.job_id, submission.attempt_number)
    master = f"{name}-0.{service_name(submission.job_id, submission.attempt_number)}"
    return make_indexed(cfg, submission, manifest.build_job(cfg, submission, spec_path), master)


def build_jobset(cfg: manifest.KubeSettings, submission: Submission, spec_path) -> dict:
    """The same attempt as a JobSet: one replicated job (the Indexed Job above), DNS hostnames
    and the headless Service by the JobSet controller, no restarts (Hone retries)."""
    name = manifest.job_name(submission.job_id, submission.attempt_number)
    # JobSet names pods <jobset>-<replicated job>-<job index>-<pod index>, under subdomain <jobset>.
    master = f"{name}-{JOBSET_REPLICATED_JOB}-0-0.{name}"
    job = make_indexed(cfg, submission, manifest.build_job(cfg, submission, spec_path), master)
    job["spec"]["template"]["spec"].pop("subdomain")  # set by the JobSet controller
    suspend = job["spec"].pop("suspend")
    return {
        "apiVersion": JOBSET_API,
        "kind": "JobSet",
        "metadata": job["metadata"],
        "spec": {
            "suspend": suspend,
            "network": {"enableDNSHostnames": True, "subdomain": name, "publishNotReadyAddresses": True},
            "failurePolicy": {"maxRestarts": 0},
            "replicatedJobs": [
                {
                    "name": JOBSET_REPLICATED_JOB,
                    "replicas": 1,
                    "template": {"metadata": {"labels": job["metadata"]["labels"]}, "spec": job["spec"]},
                }
            ],
        },
    }
