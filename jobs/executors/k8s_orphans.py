"""Orphans, both ways, for the Kubernetes executor: Kubernetes Jobs that no live attempt owns, and
live attempts whose Job is gone. The executor's ``find_orphans`` / ``stop_orphans`` (the operator
console reads the first; every reconciler pass runs the second)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from jobs.executors import k8s_manifest as manifest
from jobs.executors.k8s_api import _finished

log = logging.getLogger("jobs.executors.kubernetes")


@dataclass(frozen=True)
class Orphans:
    jobs_without_attempt: list[tuple[int, int]]  # (job id, attempt number) of still-active Jobs
    attempts_without_job: list[tuple[int, int]]


def find(executor) -> Orphans:
    """Both ways: Kubernetes Jobs with no live attempt, and live attempts with no Job.

    Reads the current pass's listing (or lists now). For the operator console, and for
    ``stop``, which every pass runs.
    """
    from jobs.models import Attempt

    snap = executor.current_snapshot()
    live = {
        (a.job_id, a.number)
        for a in Attempt.objects.filter(status__in=Attempt.LIVE, executor=executor.name)
    }
    in_cluster = {}
    for name, job in snap.jobs.items():
        labels = job["metadata"].get("labels", {})
        try:
            in_cluster[(int(labels[manifest.JOB_LABEL]), int(labels[manifest.ATTEMPT_LABEL]))] = job
        except (KeyError, ValueError):
            log.warning("Job %s carries Hone's label but no job/attempt labels", name)
    active = [k for k, job in in_cluster.items() if k not in live and not _finished(job)]
    # A live attempt whose Job is not listed: submitted (it has an external id) and gone, or
    # never submitted. The reconciler settles each (finished as missing, or submitted again).
    missing = [k for k in live if k not in in_cluster]
    return Orphans(jobs_without_attempt=sorted(active), attempts_without_job=sorted(missing))


def stop(executor) -> list[str]:
    """Delete running Jobs that no live attempt owns (a cancel that never reached the cluster,
    a restored database, a deleted job): they would hold GPUs for nothing. Finished ones
    are left to their TTL."""
    stopped = []
    for job_id, number in find(executor).jobs_without_attempt:
        name = manifest.job_name(job_id, number)
        log.warning("stopping Kubernetes Job %s: no live attempt of Hone owns it", name)
        executor._delete(name)
        stopped.append(name)
    return stopped
