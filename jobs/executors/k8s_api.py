"""Plain helpers of the Kubernetes executor: the API client, error words, and reading a pod log's
events. No state; ``jobs/executors/kubernetes.py`` uses them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from jobs.executors import k8s_manifest as manifest
from jobs.executors.k8s_manifest import KubeSettings
from trainers.events import decode_line


def _api_client(cfg: KubeSettings) -> client.ApiClient:
    configuration = client.Configuration()
    if cfg.in_cluster:
        config.load_incluster_config(client_configuration=configuration)
    else:
        config.load_kube_config(
            config_file=cfg.kubeconfig or None,
            context=cfg.context or None,
            client_configuration=configuration,
        )
    # Retry connecting (nothing was sent), never a request the server may have acted on:
    # the reconciler's next pass is the retry, and submitting again is idempotent.
    configuration.retries = urllib3.Retry(total=2, connect=2, read=0, status=0, other=0, backoff_factor=0.2)
    return client.ApiClient(configuration)


def _attempt_name(job: dict) -> str:
    labels = job["metadata"].get("labels") or {}
    if manifest.JOB_LABEL in labels and manifest.ATTEMPT_LABEL in labels:
        return manifest.job_name(labels[manifest.JOB_LABEL], labels[manifest.ATTEMPT_LABEL])
    return job["metadata"]["name"]


def _refused(what: str, exc: ApiException) -> RuntimeError:
    try:
        message = json.loads(exc.body or "{}").get("message") or exc.reason
    except ValueError:
        message = exc.reason
    return RuntimeError(f"Kubernetes refused to {what}: {exc.status} {message}")


def _finished(job: dict) -> bool:
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in (job.get("status") or {}).get("conditions") or []
    )


def _events_after(data: bytes, offset: int) -> tuple[list[dict], int]:
    events = []
    position = offset
    for line in data[offset:].splitlines(keepends=True):
        if not line.endswith(b"\n"):
            break  # still being written; read it next time
        position += len(line)
        event = decode_line(line)  # None: stderr and library output share the pod log
        if event is not None:
            events.append(event)
    return events, position


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
