"""What the operator console shows of the Kubernetes cluster: GPU nodes (allocatable vs
allocated GPUs) and the reconciler's orphans.

Read by the worker, never by the web server: only the worker and beat pods hold the service
account's token (k8s/base), so the console asks the worker to look (``observe_cluster`` task)
and shows the latest view from the cache, with its age. ``observe`` lists nodes and the pods
of every namespace through the official client (GPUs held by other workloads count too), and
calls ``KubernetesExecutor.find_orphans``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field

import urllib3
from django.conf import settings
from django.core.cache import cache
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from jobs.executors import registry
from jobs.executors.base import ExecutorUnavailable

log = logging.getLogger(__name__)

FRESH_SECONDS = 30  # older than this, the console asks the worker to look again
KEEP_SECONDS = 24 * 3600
PAGE_SIZE = 500
GPU_RESOURCE_SUFFIX = "/gpu"  # nvidia.com/gpu, amd.com/gpu
GPU_PRODUCT_LABELS = ("nvidia.com/gpu.product", "amd.com/gpu.product-name")
LIVE_PODS = "status.phase!=Succeeded,status.phase!=Failed"


def cache_key() -> str:
    # Installations may share one Redis: the namespace keeps their views apart.
    return f"hone:console:cluster:{settings.HONE_K8S_NAMESPACE}"


@dataclass
class Node:
    name: str
    gpu_product: str
    allocatable: int
    allocated: int
    ready: bool
    schedulable: bool

    @property
    def free(self) -> int:
        return max(self.allocatable - self.allocated, 0)


@dataclass
class ClusterView:
    taken_at: float
    nodes: list[Node] = field(default_factory=list)
    other_nodes: int = 0  # nodes without GPUs
    nodes_error: str = ""
    jobs_without_attempt: list[list[int]] = field(default_factory=list)
    attempts_without_job: list[list[int]] = field(default_factory=list)
    orphans_error: str = ""
    multinode: str = ""  # how multi-node attempts run here (Indexed Job; whether JobSet is installed)

    @property
    def age_seconds(self) -> float:
        return max(time.time() - self.taken_at, 0.0)

    @property
    def gpus_allocatable(self) -> int:
        return sum(n.allocatable for n in self.nodes)

    @property
    def gpus_allocated(self) -> int:
        return sum(n.allocated for n in self.nodes)


def latest() -> ClusterView | None:
    data = cache.get(cache_key())
    if not data:
        return None
    nodes = [Node(**n) for n in data.pop("nodes", [])]
    return ClusterView(nodes=nodes, **data)


def observe() -> ClusterView:
    """In the worker: list nodes and pods, find orphans, keep the view in the cache."""
    view = ClusterView(taken_at=time.time())
    if settings.HONE_EXECUTOR != "kubernetes":
        return view  # the local executor has no cluster; its slots are read from the database
    executor = registry.current()
    try:
        nodes = gpu_nodes(executor)
        view.nodes = [n for n in nodes if n.allocatable]
        view.other_nodes = len(nodes) - len(view.nodes)
    except ClusterUnreadable as exc:
        view.nodes_error = str(exc)
    view.multinode = multinode_form(executor)
    try:
        orphans = executor.find_orphans()
        view.jobs_without_attempt = [list(k) for k in orphans.jobs_without_attempt]
        view.attempts_without_job = [list(k) for k in orphans.attempts_without_job]
    except (ExecutorUnavailable, RuntimeError) as exc:
        view.orphans_error = str(exc)
    cache.set(cache_key(), asdict(view), KEEP_SECONDS)
    return view


class ClusterUnreadable(RuntimeError):
    """The nodes or pods could not be listed; the message says why and what to do."""


def gpu_nodes(executor) -> list[Node]:
    core = client.CoreV1Api(executor.api)
    timeout = executor.cfg.api_timeout_seconds
    nodes = _list(core.list_node, timeout)
    pods = _list(core.list_pod_for_all_namespaces, timeout, field_selector=LIVE_PODS)
    allocated: dict[str, int] = {}
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        if node:
            allocated[node] = allocated.get(node, 0) + pod_gpus(pod)
    return [
        Node(
            name=n["metadata"]["name"],
            gpu_product=next((labels(n)[k] for k in GPU_PRODUCT_LABELS if k in labels(n)), ""),
            allocatable=gpu_quantity((n.get("status") or {}).get("allocatable") or {}),
            allocated=allocated.get(n["metadata"]["name"], 0),
            ready=_ready(n),
            schedulable=not (n.get("spec") or {}).get("unschedulable", False),
        )
        for n in nodes
    ]


JOBSET_GROUP = "jobset.x-k8s.io"


def multinode_form(executor) -> str:
    """Which form a multi-node attempt takes here, in words (jobs/executors/k8s_jobset.py): a JobSet
    where the cluster has its CRD, else an Indexed Job with a headless Service."""
    used = "one Indexed Job per attempt (one pod per node) and a headless Service for rendezvous"
    try:
        response = client.ApisApi(executor.api).get_api_versions(
            _preload_content=False, _request_timeout=executor.cfg.api_timeout_seconds
        )
        groups = {g.get("name") for g in json.loads(response.data or b"{}").get("groups") or []}
    except ApiException as exc:
        return f"{used} (could not ask whether JobSet is installed: {exc.status} {exc.reason})"
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        return f"{used} (could not ask whether JobSet is installed: {exc})"
    if JOBSET_GROUP in groups:
        return (
            f"one JobSet per attempt (the JobSet CRD, {JOBSET_GROUP}, is installed): its controller makes "
            "the Indexed Job, one pod per node, and the headless Service for rendezvous"
        )
    return f"{used}; no JobSet CRD ({JOBSET_GROUP}) in this cluster, none needed"


def labels(obj: dict) -> dict:
    return obj["metadata"].get("labels") or {}


def gpu_quantity(resources: dict) -> int:
    total = 0
    for name, value in resources.items():
        if name.endswith(GPU_RESOURCE_SUFFIX):
            try:
                total += int(value)
            except (TypeError, ValueError):
                log.warning("GPU quantity %r of %s is not a whole number", value, name)
    return total


def pod_gpus(pod: dict) -> int:
    """GPUs a pod holds: its containers' requests (per resource: the limit when that resource
    has no request, as the API server defaults it), or its largest init container's if more
    (the scheduler's rule for effective requests).

    Per resource, not per container: a container asking ``requests: {cpu: 4}`` with
    ``limits: {nvidia.com/gpu: 1}`` holds one GPU (the API copies the limit into requests)."""
    spec = pod.get("spec") or {}

    def wanted(container: dict) -> int:
        resources = container.get("resources") or {}
        return gpu_quantity((resources.get("limits") or {}) | (resources.get("requests") or {}))

    main = sum(wanted(c) for c in spec.get("containers") or [])
    init = max((wanted(c) for c in spec.get("initContainers") or []), default=0)
    return max(main, init)


def _ready(node: dict) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _list(method, timeout: int, **kwargs) -> list[dict]:
    items: list[dict] = []
    token = None
    try:
        while True:
            page_kwargs = {"limit": PAGE_SIZE, **kwargs} | ({"_continue": token} if token else {})
            response = method(_preload_content=False, _request_timeout=(timeout, timeout), **page_kwargs)
            page = json.loads(response.data or b"{}")
            items += page.get("items") or []
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items
    except ApiException as exc:
        if exc.status == 403:
            raise ClusterUnreadable(
                "Hone may not list nodes and pods: bind its service account (hone) to a ClusterRole "
                "allowing list on nodes and pods"
            ) from None
        raise ClusterUnreadable(f"the Kubernetes API answered {exc.status} {exc.reason}") from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise ClusterUnreadable(f"the Kubernetes API did not answer: {exc}") from None
