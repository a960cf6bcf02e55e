"""An HTTP-level stand-in for the Kubernetes API server, for the endpoints Hone's executor uses.

The executor under test speaks to it through the real ``kubernetes`` client over a real
socket, so URLs, query parameters, bodies, status codes and error bodies all go through
the client's own code. What a cluster would do on its own (schedule, run, kill a pod) the
tests do with the helper methods, which write pod and Job status as the kubelet and the
Job controller would.

Served: batch/v1 jobs (create, get, list by label with pagination, delete), core/v1 pods
(list by label with pagination, log), secrets and services (create, patch). 409 on a duplicate create;
410 Gone on an expired continue token; injectable failures and delays per request.

Where a real control plane behaves in a way Hone must not overlook, the fake does too:
- a pod's container ``requests`` default to its ``limits``, per resource (API defaulting);
- deleting a Job (Background) marks its pods for deletion, and they keep running through
  their grace period (``deletionTimestamp``) until ``end_grace_period`` (the kubelet's
  SIGTERM → exit), then they are gone;
- ``suspend_job`` (what Kueue does to take quota back) sets ``spec.suspend``; the Job
  controller deletes the active pods, which likewise outlive the suspension by their grace
  period — no pod fails at the moment of suspension.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

JOBS = re.compile(r"^/apis/batch/v1/namespaces/(?P<ns>[^/]+)/jobs(?:/(?P<name>[^/]+))?$")
PODS = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods(?:/(?P<name>[^/]+)(?P<log>/log)?)?$")
SECRETS = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/secrets(?:/(?P<name>[^/]+))?$")
JOBSETS = re.compile(
    r"^/apis/jobset.x-k8s.io/v1alpha2/namespaces/(?P<ns>[^/]+)/jobsets(?:/(?P<name>[^/]+))?$"
)
SERVICES = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/services(?:/(?P<name>[^/]+))?$")


@dataclass
class Fault:
    method: str
    path_part: str
    status: int = 500
    delay: float = 0.0
    times: int = 1
    then_process: bool = False  # after the delay, act on the request as usual (the client timed out)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: dict | None


@dataclass
class State:
    jobs: dict[str, dict] = field(default_factory=dict)
    pods: dict[str, dict] = field(default_factory=dict)
    secrets: dict[str, dict] = field(default_factory=dict)
    services: dict[str, dict] = field(default_factory=dict)
    jobsets: dict[str, dict] = field(default_factory=dict)
    api_groups: list[str] = field(default_factory=lambda: ["batch", "apps"])  # + CRDs' groups
    logs: dict[str, bytes] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    expire_continue_tokens: int = 0
    rv: int = 100


class FakeKubernetes:
    def __init__(self) -> None:
        self.state = State()
        self.lock = threading.RLock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeKubernetes:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def kubeconfig(self, namespace: str) -> dict:
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "hone", "user": {"token": "fake-token"}}],
            "contexts": [
                {"name": "fake", "context": {"cluster": "fake", "user": "hone", "namespace": namespace}}
            ],
            "current-context": "fake",
        }

    # --- what the tests inject and read --------------------------------------------

    def fail(self, method: str, path_part: str, status: int = 500, times: int = 1) -> None:
        self.state.faults.append(Fault(method, path_part, status=status, times=times))

    def delay(self, method: str, path_part: str, seconds: float, *, then_process: bool = True) -> None:
        self.state.faults.append(Fault(method, path_part, status=0, delay=seconds, then_process=then_process))

    def requests(self, method: str | None = None, path_part: str = "") -> list[Request]:
        return [
            r for r in self.state.requests if (method is None or r.method == method) and path_part in r.path
        ]

    def next_rv(self) -> str:
        self.state.rv += 1
        return str(self.state.rv)

    # --- what a cluster would do: the kubelet, the scheduler, the Job controller -------

    def add_indexed_pods(self, job_name: str, phase: str = "Running") -> list[dict]:
        """What the Job controller makes of an Indexed Job: one pod per completion index, named
        ``<job>-<index>-<random>``, the index in an annotation (the hostname ``<job>-<index>``)."""
        job = self.state.jobs[job_name]
        pods = []
        for index in range(job["spec"]["completions"]):
            pod = self.add_pod(job_name, phase, name=f"{job_name}-{index}-{uuid.uuid4().hex[:5]}")
            pod["metadata"]["annotations"] = {"batch.kubernetes.io/job-completion-index": str(index)}
            pod["spec"]["hostname"] = f"{job_name}-{index}"
            pods.append(pod)
        return pods

    def add_pod(self, job_name: str, phase: str = "Pending", *, name: str = "", **status: object) -> dict:
        job = self.state.jobs[job_name]
        name = name or f"{job_name}-{uuid.uuid4().hex[:5]}"
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": job["metadata"]["namespace"],
                "uid": str(uuid.uuid4()),
                "labels": dict(job["spec"]["template"]["metadata"]["labels"]),
                "resourceVersion": (rv := self.next_rv()),
                "creationTimestamp": _created(rv),
            },
            "spec": default_resources(job["spec"]["template"]["spec"]),
            "status": {"phase": phase, **status},
        }
        self.state.pods[name] = pod
        return pod

    def pod_of(self, job_name: str) -> dict | None:
        pods = [p for p in self.state.pods.values() if p["metadata"]["name"].startswith(job_name + "-")]
        return pods[-1] if pods else None

    def set_container(self, pod: dict, state: dict) -> None:
        pod["status"]["containerStatuses"] = [{"name": "trainer", "state": state, "ready": False}]

    def run_jobset_controller(self, name: str) -> str:
        """What the JobSet controller does with a new JobSet: its one replicated job becomes the
        Job ``<name>-<replicated job>-0`` (labels from the template), owned by the JobSet."""
        jobset = self.state.jobsets[name]
        replicated = jobset["spec"]["replicatedJobs"][0]
        child = f"{name}-{replicated['name']}-0"
        spec = copy.deepcopy(replicated["template"]["spec"])
        spec["template"]["spec"]["subdomain"] = jobset["spec"]["network"]["subdomain"]
        spec["suspend"] = jobset["spec"].get("suspend", False)
        rv = self.next_rv()
        owner = {"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet", "name": name,
                 "uid": jobset["metadata"]["uid"]}  # fmt: skip
        labels = {**replicated["template"]["metadata"]["labels"], "jobset.sigs.k8s.io/jobset-name": name}
        meta = {"name": child, "namespace": jobset["metadata"]["namespace"], "uid": str(uuid.uuid4()),
                "labels": labels, "ownerReferences": [owner], "resourceVersion": rv,
                "creationTimestamp": _created(rv)}  # fmt: skip
        self.state.jobs[child] = {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": spec,
                                  "status": {}}  # fmt: skip
        return child

    def pods_of(self, job_name: str) -> list[dict]:
        return [p for p in self.state.pods.values() if p["metadata"]["name"].startswith(job_name + "-")]

    def suspend_job(self, job_name: str) -> None:
        """Kueue takes the quota back: ``spec.suspend`` turns true and the Job controller deletes
        the active pods, which go on running through their grace period."""
        job = self.state.jobs[job_name]
        job["spec"]["suspend"] = True
        self.job_condition(job_name, "Suspended", "JobSuspended", "Job suspended")
        for pod in self.pods_of(job_name):
            if pod["status"].get("phase") not in ("Succeeded", "Failed"):
                mark_for_deletion(pod)

    def end_grace_period(self, exit_code: int = 143) -> list[str]:
        """Every pod marked for deletion stops (the trainer's SIGTERM exit) and is removed."""
        gone = [name for name, pod in self.state.pods.items() if pod["metadata"].get("deletionTimestamp")]
        for name in gone:
            pod = self.state.pods.pop(name)
            pod["status"]["phase"] = "Failed"
            self.set_container(pod, {"terminated": {"exitCode": exit_code, "reason": "Error"}})
        return gone

    def job_condition(self, job_name: str, kind: str, reason: str = "", message: str = "") -> None:
        job = self.state.jobs[job_name]
        conditions = job.setdefault("status", {}).setdefault("conditions", [])
        conditions.append({"type": kind, "status": "True", "reason": reason, "message": message})


def default_resources(pod_spec: dict) -> dict:
    """The pod spec as the API server stores it: each container's requests default to its
    limits, resource by resource (a request the container names itself is kept)."""
    spec = copy.deepcopy(pod_spec)
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        resources = container.get("resources") or {}
        if resources.get("limits"):
            resources["requests"] = resources["limits"] | (resources.get("requests") or {})
    return spec


def mark_for_deletion(pod: dict) -> None:
    grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
    pod["metadata"]["deletionTimestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    pod["metadata"]["deletionGracePeriodSeconds"] = grace


def _created(rv: str) -> str:
    """A creation time that orders objects as they were made (one fake second per change)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1_800_000_000 + int(rv)))


def _matches(obj: dict, selector: str) -> bool:
    labels = obj["metadata"].get("labels", {})
    for term in filter(None, selector.split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


def _merge(target: dict, patch: dict) -> dict:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value
    return target


def _status(code: int, reason: str, message: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": reason,
            "code": code}


def _handler(fake: FakeKubernetes):  # noqa: C901 - one dispatch table reads better flat
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def _send(self, code: int, body: dict | bytes) -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json" if isinstance(body, dict) else "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self, method: str) -> None:
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            with fake.lock:
                fake.state.requests.append(Request(method, url.path, query, body))
                matching = (f for f in fake.state.faults if f.method == method and f.path_part in url.path)
                fault = next((f for f in matching if f.times), None)
                if fault:
                    fault.times -= 1
            if fault and fault.delay:
                time.sleep(fault.delay)
                if not fault.then_process:
                    return
            elif fault:
                self._send(fault.status, _status(fault.status, "InternalError", "injected failure"))
                return
            with fake.lock:
                code, answer = route(method, url.path, query, body)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up waiting
                self._send(code, answer)

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PATCH(self) -> None:
            self._handle("PATCH")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

    def route(method: str, path: str, query: dict, body: dict | None) -> tuple[int, dict | bytes]:
        state = fake.state
        if m := JOBS.match(path):
            return resource(state.jobs, "Job", "batch/v1", m["name"], method, query, body)
        if (m := PODS.match(path)) and m["log"]:
            return log(m["name"], query)
        if m := PODS.match(path):
            return resource(state.pods, "Pod", "v1", m["name"], method, query, body)
        if m := SECRETS.match(path):
            return resource(state.secrets, "Secret", "v1", m["name"], method, query, body)
        if path.rstrip("/") == "/apis" and method == "GET":
            groups = [{"name": g, "versions": [], "preferredVersion": {}} for g in state.api_groups]
            return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
        if (m := JOBSETS.match(path)) and "jobset.x-k8s.io" in state.api_groups:
            api = "jobset.x-k8s.io/v1alpha2"
            return resource(state.jobsets, "JobSet", api, m["name"], method, query, body)
        if m := SERVICES.match(path):
            return resource(state.services, "Service", "v1", m["name"], method, query, body)
        return 404, _status(404, "NotFound", f"no route for {method} {path}")

    def resource(store, kind, api_version, name, method, query, body):
        if method == "GET" and name is None:
            return listing(store, kind, api_version, query)
        if method == "POST":
            name = body["metadata"]["name"]
            if name in store:
                return 409, _status(409, "AlreadyExists", f'{kind.lower()}s "{name}" already exists')
            obj = create(body)
            store[name] = obj
            return 201, obj
        if name not in store:
            return 404, _status(404, "NotFound", f'{kind.lower()}s "{name}" not found')
        if method == "GET":
            return 200, store[name]
        if method == "PATCH":
            _merge(store[name], create_like(body))
            store[name]["metadata"]["resourceVersion"] = fake.next_rv()
            return 200, store[name]
        if method == "DELETE":
            obj = store.pop(name)
            if kind == "Job":
                collect_garbage(obj)
            if kind == "JobSet":  # its child Jobs go, and with them their pods and Secret
                uid = obj["metadata"]["uid"]
                for child_name, child in list(fake.state.jobs.items()):
                    if any(o.get("uid") == uid for o in child["metadata"].get("ownerReferences", [])):
                        collect_garbage(fake.state.jobs.pop(child_name))
                collect_owned(obj["metadata"]["uid"])
            return 200, _status(200, "", "") | {"status": "Success"}
        return 405, _status(405, "MethodNotAllowed", method)

    def create_like(body: dict) -> dict:
        """As the API server stores it: a Secret's stringData is written into its data."""
        obj = json.loads(json.dumps(body))
        if "stringData" in obj:
            data = obj.pop("stringData")
            obj["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
        return obj

    def create(body: dict) -> dict:
        obj = create_like(body)
        meta = obj["metadata"]
        rv = fake.next_rv()
        meta.update(uid=str(uuid.uuid4()), resourceVersion=rv, creationTimestamp=_created(rv))
        if obj["kind"] == "Job":
            obj["status"] = {}
        return obj

    def collect_garbage(job: dict) -> None:
        """What the garbage collector does after a Background delete: dependents go too. A pod
        that has ended goes at once; a live one is marked for deletion and runs on through its
        grace period (``end_grace_period``)."""
        for name, pod in list(fake.state.pods.items()):
            if pod["metadata"]["labels"] != job["spec"]["template"]["metadata"]["labels"]:
                continue
            if pod["status"].get("phase") in ("Succeeded", "Failed"):
                del fake.state.pods[name]
            else:
                mark_for_deletion(pod)
        collect_owned(job["metadata"]["uid"])

    def collect_owned(uid: str) -> None:
        for store in (fake.state.secrets, fake.state.services):
            for name, owned in list(store.items()):
                if any(o.get("uid") == uid for o in owned["metadata"].get("ownerReferences", [])):
                    del store[name]

    def listing(store, kind, api_version, query):
        items = sorted((o for o in store.values() if _matches(o, query.get("labelSelector", ""))),
                       key=lambda o: o["metadata"]["name"])
        start = 0
        if query.get("continue"):
            if fake.state.expire_continue_tokens:
                fake.state.expire_continue_tokens -= 1
                return 410, _status(410, "Expired", "The provided continue parameter is too old")
            start = int(query["continue"])
        limit = int(query.get("limit") or 0) or len(items) or 1
        page = items[start:start + limit]
        meta = {"resourceVersion": str(fake.state.rv)}
        if start + limit < len(items):
            meta["continue"] = str(start + limit)
        return 200, {"kind": f"{kind}List", "apiVersion": api_version, "metadata": meta, "items": page}

    def log(name, query):
        if name not in fake.state.pods:
            return 404, _status(404, "NotFound", f'pods "{name}" not found')
        data = fake.state.logs.get(name, b"")
        if query.get("tailLines"):
            data = b"".join(data.splitlines(keepends=True)[-int(query["tailLines"]):])
        if query.get("limitBytes"):
            data = data[: int(query["limitBytes"])]
        return 200, data

    return Handler
