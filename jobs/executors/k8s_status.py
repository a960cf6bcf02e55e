"""What a Kubernetes Job and its pod say about an attempt, in the executor contract's terms.

Pure functions over the API's JSON (dicts), so each rule reads on its own:

- exit 0: the pod succeeded.
- exit 2 (permanent): the image cannot be pulled or the container cannot be created; a
  retry would meet the same wall, so fail fast with the kubelet's message.
- exit 3 (permanent): the container was OOMKilled.
- exit 124 (permanent): the Job ran past activeDeadlineSeconds (DeadlineExceeded).
- exit 143 (preempted: retried from the last checkpoint): the pod was disrupted (eviction,
  preemption, node shutdown: condition DisruptionTarget, or reason Evicted), or Kueue took
  back the quota of a Job that had already started — once its pods have stopped: until then
  the attempt is "running" with reason "stopping…", as when a deleted Job's pod shuts down.
- any other exit code: what the trainer exited with, retried up to the job's limit.

Pending attempts carry the reason they wait: the scheduler's message when unschedulable.
"""

from __future__ import annotations

from jobs.executors.base import Observation
from jobs.executors.k8s_manifest import CONTAINER

IMAGE_EXIT_CODE = 2
OOM_EXIT_CODE = 3
DEADLINE_EXIT_CODE = 124
PREEMPTED_EXIT_CODE = 143
STOPPING_WORKERS = "stopping: a worker ended the attempt; waiting for the other nodes to save and exit"
STOPPING_SUSPENDED = (
    "stopping: Kueue took the quota back; waiting for the trainer to save a checkpoint and exit"
)
# Waiting reasons no amount of waiting fixes.
FATAL_WAITING = {
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "CreateContainerConfigError",
}


def condition(obj: dict, kind: str) -> dict | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == kind and c.get("status") == "True":
            return c
    return None


def newest(pods: list[dict]) -> dict | None:
    return max(pods, key=lambda p: p["metadata"].get("creationTimestamp") or "", default=None)


def trainer_status(pod: dict) -> dict:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == CONTAINER:
            return status
    return {}


INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"


def telling(pods: list[dict]) -> dict | None:
    """The pod that says how a (multi-node) attempt stands: the worker that failed (one that
    crashed before one stopped by SIGTERM: the Job controller stops the others when one fails),
    else one still waiting to be scheduled or pulled, else a running one. One pod: that pod."""
    failed = sorted(
        (p for p in pods if (p.get("status") or {}).get("phase") == "Failed"),
        key=lambda p: (from_pod(p).exit_code == PREEMPTED_EXIT_CODE and not condition(p, "DisruptionTarget"),
                       p["metadata"].get("creationTimestamp") or ""),
    )
    if failed:
        return failed[0]
    live = [p for p in pods if not _terminal(p)]
    pending = [p for p in live if (p.get("status") or {}).get("phase") != "Running"]
    return (pending or [newest(live)] if live else [newest(pods)])[0]


def rank_zero(pods: list[dict]) -> dict | None:
    """Node rank 0's pod (completion index 0), whose trainer reports the run; else the newest."""
    for pod in pods:
        if (pod["metadata"].get("annotations") or {}).get(INDEX_ANNOTATION) == "0":
            return pod
    return newest(pods)


def classify(job: dict | None, pods: list[dict], *, started_before: bool = False) -> Observation:
    """The attempt as its Job and pods show it. ``job`` None: the Job is gone (pods may linger)."""
    pod = telling(pods)
    if job is None:
        if any(not _terminal(p) for p in pods):
            return Observation("running", reason="stopping")  # deleted; the pod is still shutting down
        if pod is not None:
            return from_pod(pod)
        return Observation("missing", reason="its Kubernetes Job is gone (deleted outside Hone?)")
    deadline = condition(job, "Failed") or condition(job, "FailureTarget")
    if deadline and deadline.get("reason") == "DeadlineExceeded":
        limit = job["spec"].get("activeDeadlineSeconds")
        return Observation(
            "exited",
            DEADLINE_EXIT_CODE,
            f"DeadlineExceeded: it ran longer than its compute profile allows ({limit} s); "
            "choose a profile with a longer limit or train for fewer steps",
        )
    if condition(job, "Complete") or condition(job, "SuccessCriteriaMet"):
        return Observation("exited", 0)
    ended = condition(job, "Failed") or condition(job, "FailureTarget")
    if ended and len(pods) > 1 and any(not _terminal(p) for p in pods):
        # One worker ended the Job; the controller is stopping the others, which save the
        # checkpoint the next attempt resumes from: not over until they have.
        return Observation("running", reason=STOPPING_WORKERS)
    if job["spec"].get("suspend"):
        if started_before:
            return _suspended(pods)
        if pod is None or _terminal(pod):
            queue = job["metadata"].get("labels", {}).get("kueue.x-k8s.io/queue-name", "")
            return Observation("pending", reason=f"waiting in Kueue queue {queue!r} for quota")
    if pod is not None and (_terminal(pod) or condition(job, "Failed")):
        return from_pod(pod)
    if condition(job, "Failed"):
        failed = condition(job, "Failed") or {}
        return Observation("exited", 1, f"{failed.get('reason')}: {failed.get('message', '')}".strip(": "))
    if pod is None:
        return Observation("pending", reason="waiting for the Job controller to create its pod")
    return from_live_pod(pod)


def _suspended(pods: list[dict]) -> Observation:
    """Kueue took the quota back from a Job that had started. Its pods are being deleted but
    run on through their grace period (the trainer writes its SIGTERM checkpoint then): the
    attempt stays live, "stopping", until every pod is gone or has ended, so the next attempt
    is not dispatched before that checkpoint exists, nor writes the same output beside it."""
    if any(not _terminal(p) for p in pods):
        return Observation("running", reason=STOPPING_SUSPENDED)
    why = "preempted: Kueue took the quota back (the Job was suspended)"
    return Observation("exited", PREEMPTED_EXIT_CODE, why)


def _terminal(pod: dict) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def from_live_pod(pod: dict) -> Observation:
    status = pod.get("status") or {}
    waiting = (trainer_status(pod).get("state") or {}).get("waiting") or {}
    if waiting.get("reason") in FATAL_WAITING:
        message = waiting.get("message") or "the kubelet gave no message"
        return Observation("exited", IMAGE_EXIT_CODE, f"{waiting['reason']}: {message}")
    if status.get("phase") == "Running":
        return Observation("running")
    scheduled = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), {"status": "True"}
    )
    if scheduled.get("status") == "False":
        return Observation("pending", reason=scheduled.get("message") or scheduled.get("reason") or "")
    return Observation("pending", reason=waiting.get("reason", ""))


def from_pod(pod: dict) -> Observation:
    """A pod that has ended: how, in exit-code terms."""
    status = pod.get("status") or {}
    if status.get("phase") == "Succeeded":
        return Observation("exited", 0)
    disruption = condition(pod, "DisruptionTarget")
    if disruption:
        why = disruption.get("reason") or "DisruptionTarget"
        message = disruption.get("message") or ""
        return Observation("exited", PREEMPTED_EXIT_CODE, f"preempted: {why}: {message}".rstrip(": "))
    if status.get("reason") == "Evicted":
        return Observation("exited", PREEMPTED_EXIT_CODE, f"preempted: Evicted: {status.get('message', '')}")
    terminated = (trainer_status(pod).get("state") or {}).get("terminated")
    if terminated is None:
        waiting = (trainer_status(pod).get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in FATAL_WAITING:
            message = waiting.get("message", "")
            return Observation("exited", IMAGE_EXIT_CODE, f"{waiting['reason']}: {message}")
        why = status.get("message") or status.get("reason") or "the pod failed before the trainer started"
        return Observation("exited", 1, why)
    code = int(terminated.get("exitCode", 1))
    if terminated.get("reason") == "OOMKilled":
        return Observation(
            "exited",
            OOM_EXIT_CODE,
            "OOMKilled: the trainer used more memory than its compute profile allows; "
            "choose a profile with more memory or lower the batch size or sequence length",
        )
    if code == 0:
        return Observation("exited", 0)
    if code == PREEMPTED_EXIT_CODE:
        return Observation("exited", code, "terminated (SIGTERM)")
    return Observation("exited", code, f"the trainer exited with code {code}")
