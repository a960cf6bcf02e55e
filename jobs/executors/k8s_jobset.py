"""Multi-node attempts as JobSets, where the cluster has the JobSet CRD (jobset.x-k8s.io).

Detected once per executor from API discovery (``GET /apis``). With it, a multi-node attempt is
one JobSet ``hone-<job>-a<attempt>`` (``k8s_multinode.build_jobset``): the JobSet controller
makes the Indexed Job (``hone-<job>-a<attempt>-node-0``) and the headless Service. The child
Job and its pods carry Hone's labels, so the reconciler reads them as it reads its own Jobs;
deleting the JobSet (cancel, orphans) takes the child Job, its pods and the Secret with it.
Without the CRD the executor submits the Indexed Job and Service itself.
"""

from __future__ import annotations

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from jobs.executors.k8s_multinode import JOBSET_API

GROUP, VERSION = JOBSET_API.split("/")
PLURAL = "jobsets"


def installed(executor) -> bool:
    """Whether the cluster serves the JobSet API group (its CRD is installed)."""
    response = executor._call(client.ApisApi(executor.api).get_api_versions)
    return any(g.get("name") == GROUP for g in response.get("groups") or [])


def create(executor, body: dict) -> dict:
    """Create the JobSet, or adopt the one submitted before (409)."""
    api = client.CustomObjectsApi(executor.api)
    ns = executor.cfg.namespace
    try:
        return executor._call(api.create_namespaced_custom_object, GROUP, VERSION, ns, PLURAL, body)
    except ApiException as exc:
        if exc.status != 409:
            raise
        return executor._call(
            api.get_namespaced_custom_object, GROUP, VERSION, ns, PLURAL, body["metadata"]["name"]
        )


def delete(executor, name: str) -> None:
    api = client.CustomObjectsApi(executor.api)
    try:
        executor._call(
            api.delete_namespaced_custom_object,
            GROUP,
            VERSION,
            executor.cfg.namespace,
            PLURAL,
            name,
            propagation_policy="Background",
        )
    except ApiException as exc:
        if exc.status != 404:
            raise
