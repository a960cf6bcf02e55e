"""The Kubernetes executor: one batch/v1 Job per attempt, through the official client.

- submit: the spec goes to the attempt's run directory on the shared ReadWriteMany volume
  (the same path in every pod); the events token goes into a per-attempt Secret, created
  first and referenced with ``secretKeyRef``; then the Job ``hone-<job>-a<attempt>``. A 409
  on either adopts what exists, so submitting twice, or after a worker restart, is safe.
- observe: what the Job and its pod say (``k8s_status``). The reconciler calls
  ``start_pass`` once per cycle: one paginated LIST of Hone's Jobs and one of their pods
  serves every ``observe`` of that pass. A ``410 Gone`` (an expired continue token) restarts
  the listing. A Job that is not in the listing is confirmed with a GET before it is
  called missing.
- When an attempt has ended, its pod log is kept in the run directory before the Job's
  TTL removes the pod, with ``exit.json`` recording how it ended.
- cancel: delete the Job with propagationPolicy=Background: the garbage collector removes
  its pod (which gets its grace period to stop) and its Secret.
- An API that cannot be reached raises ``ExecutorUnavailable``: never a verdict on the attempt.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from jobs.executors import k8s_jobset, k8s_multinode, k8s_orphans
from jobs.executors import k8s_manifest as manifest
from jobs.executors.base import ExecutorUnavailable, Observation, Submission
from jobs.executors.k8s_api import (
    _api_client,
    _attempt_name,
    _events_after,
    _finished,
    _refused,
    _write_atomic,
)
from jobs.executors.k8s_manifest import KubeSettings
from jobs.executors.k8s_orphans import Orphans
from jobs.executors.k8s_status import classify, rank_zero, telling

log = logging.getLogger(__name__)

PAGE_SIZE = 250
# A pass's listing serves observe() this long; past it (no pass running) observe asks directly.
SNAPSHOT_SECONDS = 30.0
# How often a running attempt's pod log is read for events the HTTP path lost.
LOG_SYNC_SECONDS = 15.0
KEEP_LOG_BYTES = 8 * 1024 * 1024
OTHER_RANK_LOG_LINES = 200  # the tail that holds a failed worker's error

__all__ = ["KubeSettings", "KubernetesExecutor", "Orphans", "build"]


@cache
def build(cfg: KubeSettings) -> KubernetesExecutor:
    return KubernetesExecutor(cfg)


@dataclass
class Snapshot:
    jobs: dict[str, dict]
    pods: dict[str, list[dict]]  # by Job name
    taken_at: float = field(default_factory=time.monotonic)


class KubernetesExecutor:
    name = "kubernetes"

    def __init__(self, cfg: KubeSettings) -> None:
        self.cfg = cfg
        self.api = _api_client(cfg)
        self.batch = client.BatchV1Api(self.api)
        self.core = client.CoreV1Api(self.api)
        self.snapshot: Snapshot | None = None
        self._jobset: bool | None = None
        self._log_read_at: dict[str, float] = {}

    # --- submit ------------------------------------------------------------------

    def run_dir(self, job_id: int, attempt_number: int) -> Path:
        return manifest.run_dir(self.cfg.storage, job_id, attempt_number)

    def submit(self, submission: Submission) -> str:
        run_dir = self.run_dir(submission.job_id, submission.attempt_number)
        run_dir.mkdir(parents=True, exist_ok=True)
        spec_path = run_dir / "spec.json"
        _write_atomic(spec_path, json.dumps(submission.spec, indent=2))  # no secrets in a spec
        self._put_secret(manifest.build_secret(self.cfg, submission))
        multinode = k8s_multinode.nodes_of(submission) > 1
        if multinode and self.uses_jobset():
            return self._submit_jobset(submission, spec_path)
        if multinode:  # the pods find rank 0 through it: made before them
            self._put_service(k8s_multinode.build_service(self.cfg, submission))
            body = k8s_multinode.indexed_job(self.cfg, submission, spec_path)
        else:
            body = manifest.build_job(self.cfg, submission, spec_path)
        try:
            job = self._call(self.batch.create_namespaced_job, self.cfg.namespace, body)
        except ApiException as exc:
            if exc.status != 409:
                raise _refused("create its Job", exc) from None
            job = self._call(self.batch.read_namespaced_job, body["metadata"]["name"], self.cfg.namespace)
        self._own_secret(submission, job)
        if multinode:
            self._own(self.core.patch_namespaced_service, k8s_multinode.service_name(
                submission.job_id, submission.attempt_number), job, "its Service")
        if self.snapshot is not None:
            self.snapshot.jobs[job["metadata"]["name"]] = job
        return f"{self.cfg.namespace}/{job['metadata']['name']}"

    def uses_jobset(self) -> bool:
        """Multi-node attempts as JobSets: the cluster has the CRD (asked once; unknown: no)."""
        if self._jobset is None:
            try:
                self._jobset = k8s_jobset.installed(self)
            except (ApiException, ExecutorUnavailable) as exc:
                log.warning("could not ask whether JobSet is installed (%s); using an Indexed Job", exc)
                return False
            form = "JobSets" if self._jobset else "Indexed Jobs + Services"
            log.info("multi-node attempts run as %s", form)
        return self._jobset

    def _submit_jobset(self, submission: Submission, spec_path: Path) -> str:
        try:
            jobset = k8s_jobset.create(self, k8s_multinode.build_jobset(self.cfg, submission, spec_path))
        except ApiException as exc:
            raise _refused("create its JobSet", exc) from None
        self._own_secret(submission, jobset)
        return f"{self.cfg.namespace}/{jobset['metadata']['name']}"

    def _put_secret(self, secret: dict) -> None:
        try:
            self._call(self.core.create_namespaced_secret, self.cfg.namespace, secret)
        except ApiException as exc:
            if exc.status != 409:
                raise _refused("create its Secret", exc) from None
            # Submitted before: adopt it, with this submission's token. A pod that has not
            # started yet reads the new one; a running trainer keeps the old (its HTTP events
            # are then refused, and the reconciler recovers them from the pod log).
            name, patch = secret["metadata"]["name"], {"stringData": secret["stringData"]}
            self._call(self.core.patch_namespaced_secret, name, self.cfg.namespace, patch)

    def _own_secret(self, submission: Submission, job: dict) -> None:
        name = manifest.secret_name(submission.job_id, submission.attempt_number)
        self._own(self.core.patch_namespaced_secret, name, job, "its Secret")

    def _own(self, patch_method, name: str, job: dict, what: str) -> None:
        """Hand an object to the Job: the garbage collector deletes it with the Job."""
        patch = {"metadata": {"ownerReferences": [manifest.owner_reference(job)]}}
        try:
            self._call(patch_method, name, self.cfg.namespace, patch)
        except ApiException as exc:
            raise _refused(f"hand {what} to its Job", exc) from None

    def _put_service(self, service: dict) -> None:
        try:
            self._call(self.core.create_namespaced_service, self.cfg.namespace, service)
        except ApiException as exc:
            if exc.status != 409:  # submitted before: the Service is the same
                raise _refused("create its headless Service", exc) from None

    # --- observe -------------------------------------------------------------------

    def start_pass(self) -> None:
        """List every Hone Job and pod once (this pass's observe() calls read from that), and
        stop Jobs that no live attempt owns."""
        self.snapshot = self._take_snapshot()
        self.stop_orphans()

    def _take_snapshot(self) -> Snapshot:
        selector = ",".join(f"{k}={v}" for k, v in manifest.MANAGED_BY.items())
        jobs = self._list(self.batch.list_namespaced_job, selector)
        pods: dict[str, list[dict]] = {}
        for pod in self._list(self.core.list_namespaced_pod, selector):
            labels = pod["metadata"].get("labels", {})
            name = manifest.job_name(labels.get(manifest.JOB_LABEL), labels.get(manifest.ATTEMPT_LABEL))
            pods.setdefault(name, []).append(pod)
        # By the attempt's name from its labels: a JobSet's child Job has a name of its own.
        return Snapshot({_attempt_name(j): j for j in jobs}, pods)

    def _list(self, method, selector: str) -> list[dict]:
        """Every page of a label-selected LIST; starts over when the continue token expired (410)."""
        for _ in range(3):
            items: list[dict] = []
            token = None
            try:
                while True:
                    kwargs = {"label_selector": selector, "limit": PAGE_SIZE}
                    if token:
                        kwargs["_continue"] = token
                    page = self._call(method, self.cfg.namespace, **kwargs)
                    items += page.get("items") or []
                    token = (page.get("metadata") or {}).get("continue")
                    if not token:
                        return items
            except ApiException as exc:
                if exc.status != 410:
                    raise _refused("list its Jobs", exc) from None
                log.info("listing expired (410 Gone); listing again from the start")
        raise ExecutorUnavailable("the Kubernetes API kept expiring the listing (410 Gone)")

    def observe(self, job_id: int, attempt_number: int) -> Observation:
        name = manifest.job_name(job_id, attempt_number)
        job, pods = self._find(job_id, attempt_number)
        run_dir = self.run_dir(job_id, attempt_number)
        if job is None and not pods and (run_dir / "exit.json").exists():
            record = json.loads((run_dir / "exit.json").read_text(encoding="utf-8"))
            return Observation("exited", record["exit_code"], record["reason"])
        seen = classify(job, pods, started_before=(run_dir / "started").exists())
        if seen.phase == "running" and job is not None and not (run_dir / "started").exists():
            (run_dir / "started").touch()  # Kueue suspending it from now on is a preemption
        if seen.phase == "exited":
            self._keep_record(job_id, attempt_number, pods, seen)
            if job is not None and not _finished(job):
                self._delete(name)  # e.g. an image that cannot be pulled: stop waiting for it
        return seen

    def _find(self, job_id: int, attempt_number: int) -> tuple[dict | None, list[dict]]:
        name = manifest.job_name(job_id, attempt_number)
        snap = self.snapshot
        if snap is not None and time.monotonic() - snap.taken_at < SNAPSHOT_SECONDS and name in snap.jobs:
            return snap.jobs[name], snap.pods.get(name, [])
        # Not in this pass's listing (or no pass running): ask for this one, so a Job created
        # since the listing is never taken for a missing one.
        try:
            job = self._call(self.batch.read_namespaced_job, name, self.cfg.namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise _refused("read its Job", exc) from None
            job = None
        if job is None and self._jobset:  # a JobSet's child Job, found by its labels
            selector = manifest.attempt_selector(job_id, attempt_number)
            job = next(iter(self._list(self.batch.list_namespaced_job, selector)), None)
        return job, self._pods(job_id, attempt_number)

    def _pods(self, job_id: int, attempt_number: int) -> list[dict]:
        selector = manifest.attempt_selector(job_id, attempt_number)
        return self._list(self.core.list_namespaced_pod, selector)

    def _keep_record(self, job_id: int, attempt_number: int, pods: list[dict], seen: Observation) -> None:
        """Before the TTL removes them: the pod's log and how it ended, in the run directory."""
        run_dir = self.run_dir(job_id, attempt_number)
        if (run_dir / "exit.json").exists():
            return
        run_dir.mkdir(parents=True, exist_ok=True)
        pod = rank_zero(pods)
        if pod is not None:
            data = self._kept_log(pod, limit_bytes=KEEP_LOG_BYTES)
            failed = telling(pods)
            if failed is not None and failed is not pod:  # another node's error, for the attempt's log
                name = failed["metadata"]["name"]
                data += f"\n--- {name} (the worker that ended the attempt) ---\n".encode()
                data += self._kept_log(failed, tail_lines=OTHER_RANK_LOG_LINES)
            if data:
                (run_dir / "pod.log").write_bytes(data)
        record = {"exit_code": seen.exit_code, "reason": seen.reason, "finished_at": time.time()}
        _write_atomic(run_dir / "exit.json", json.dumps(record))

    def _kept_log(self, pod: dict, **kwargs) -> bytes:
        try:
            return self._log_bytes(pod, **kwargs)
        except (ApiException, ExecutorUnavailable) as exc:
            log.warning("could not keep the log of %s: %s", pod["metadata"]["name"], exc)
            return b""

    # --- cancel --------------------------------------------------------------------

    def cancel(self, job_id: int, attempt_number: int, *, force: bool = False) -> None:
        """Delete the Job; its pod gets SIGTERM and the grace period, then the Secret goes too."""
        self._delete(manifest.job_name(job_id, attempt_number))

    def _delete(self, name: str) -> None:
        if self._jobset:
            try:
                k8s_jobset.delete(self, name)  # its child Job, pods, Service and Secret go with it
            except ApiException as exc:
                raise _refused("delete its JobSet", exc) from None
        try:
            self._call(
                self.batch.delete_namespaced_job, name, self.cfg.namespace, propagation_policy="Background"
            )
        except ApiException as exc:
            if exc.status != 404:
                raise _refused("delete its Job", exc) from None
        if self.snapshot is not None:
            self.snapshot.jobs.pop(name, None)

    # --- logs and events -------------------------------------------------------------

    def read_logs(self, job_id: int, attempt_number: int, *, tail_bytes: int = 16384) -> str:
        kept = self.run_dir(job_id, attempt_number) / "pod.log"
        if kept.exists():
            with kept.open("rb") as fh:
                fh.seek(max(kept.stat().st_size - tail_bytes, 0))
                return fh.read().decode("utf-8", errors="replace")
        pod = rank_zero(self._find(job_id, attempt_number)[1])
        if pod is None:
            return ""
        try:
            data = self._log_bytes(pod, tail_lines=500)
        except (ApiException, ExecutorUnavailable) as exc:
            log.warning("could not read the log of %s: %s", pod["metadata"]["name"], exc)
            return ""
        return data[-tail_bytes:].decode("utf-8", errors="replace")

    def read_events(self, job_id: int, attempt_number: int, offset: int) -> tuple[list[dict], int]:
        """Events in the trainer's stdout (the pod log, or its kept copy) past ``offset`` bytes."""
        kept = self.run_dir(job_id, attempt_number) / "pod.log"
        data = kept.read_bytes() if kept.exists() else self._live_log(job_id, attempt_number)
        return _events_after(data, offset)

    def _live_log(self, job_id: int, attempt_number: int) -> bytes:
        key = manifest.job_name(job_id, attempt_number)
        if time.monotonic() - self._log_read_at.get(key, -LOG_SYNC_SECONDS) < LOG_SYNC_SECONDS:
            return b""  # read recently; events mostly arrive over HTTP
        job, pods = self._find(job_id, attempt_number)
        pod = rank_zero(pods)  # the events come from rank 0
        if pod is None or (pod.get("status") or {}).get("phase") == "Pending":
            return b""
        self._log_read_at[key] = time.monotonic()
        try:
            return self._log_bytes(pod, limit_bytes=KEEP_LOG_BYTES)
        except (ApiException, ExecutorUnavailable) as exc:
            log.warning("could not read the log of %s: %s", pod["metadata"]["name"], exc)
            return b""

    def _log_bytes(self, pod: dict, **kwargs) -> bytes:
        response = self._call(
            self.core.read_namespaced_pod_log,
            pod["metadata"]["name"],
            self.cfg.namespace,
            container=manifest.CONTAINER,
            raw=True,
            **kwargs,
        )
        return response

    # --- orphans (k8s_orphans) --------------------------------------------------------

    def current_snapshot(self) -> Snapshot:
        """The current pass's listing, or a new one when there is none this recent."""
        snap = self.snapshot
        if snap is None or time.monotonic() - snap.taken_at >= SNAPSHOT_SECONDS:
            snap = self.snapshot = self._take_snapshot()
        return snap

    def find_orphans(self) -> Orphans:
        """Both ways: Kubernetes Jobs with no live attempt, and live attempts with no Job."""
        return k8s_orphans.find(self)

    def stop_orphans(self) -> list[str]:
        """Delete running Jobs that no live attempt owns; finished ones are left to their TTL."""
        return k8s_orphans.stop(self)

    # --- the API ---------------------------------------------------------------------

    def _call(self, method, *args, raw: bool = False, **kwargs):
        """One API request: the JSON it returns (bytes if ``raw``), or ApiException for a 4xx.

        5xx, 429, timeouts and refused connections raise ExecutorUnavailable: the cluster's
        state is unknown, and the caller must not read that as the attempt's fate.
        """
        timeout = self.cfg.api_timeout_seconds
        try:
            response = method(*args, _preload_content=False, _request_timeout=(timeout, timeout), **kwargs)
            data = response.data
        except ApiException as exc:
            if exc.status == 0 or exc.status == 429 or (exc.status or 0) >= 500:
                raise ExecutorUnavailable(f"the Kubernetes API answered {exc.status} {exc.reason}") from None
            raise
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ExecutorUnavailable(f"the Kubernetes API did not answer: {exc}") from None
        return data if raw else json.loads(data or b"{}")
