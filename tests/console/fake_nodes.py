"""A stand-in for the two cluster-wide listings the console reads: ``/api/v1/nodes`` and
``/api/v1/pods`` (every namespace), served over HTTP so the official client's own code runs.
Pages of ``limit`` items with a ``continue`` token; ``fieldSelector`` on pod phase; an
injectable status (e.g. 403 for a service account without the ClusterRole)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def node(
    name: str, gpus: int | None, *, product: str = "", ready: bool = True, cordoned: bool = False
) -> dict:
    allocatable = {"cpu": "32", "memory": "256Gi"}
    if gpus is not None:
        allocatable["nvidia.com/gpu"] = str(gpus)
    labels = {"nvidia.com/gpu.product": product} if product else {}
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"unschedulable": True} if cordoned else {},
        "status": {
            "allocatable": allocatable,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def pod(name: str, node_name: str, gpus: int, *, phase: str = "Running", namespace: str = "other") -> dict:
    resources = {"limits": {"nvidia.com/gpu": str(gpus)}} if gpus else {}
    return {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"nodeName": node_name, "containers": [{"name": "main", "resources": resources}]},
        "status": {"phase": phase},
    }


class FakeCluster:
    def __init__(self) -> None:
        self.nodes: list[dict] = []
        self.pods: list[dict] = []
        self.status = 200
        self.groups: list[str] = ["batch", "apps"]
        self.requests: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeCluster:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def kubeconfig(self) -> dict:
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "hone", "user": {"token": "fake-token"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "hone"}}],
            "current-context": "fake",
        }

    def listing(self, path: str, query: dict) -> tuple[int, dict]:
        if self.status != 200:
            return self.status, {"kind": "Status", "code": self.status, "message": "forbidden by the fake"}
        if path.rstrip("/") == "/apis":  # API discovery: the groups the cluster serves (CRDs' included)
            groups = [{"name": g, "versions": [], "preferredVersion": {}} for g in self.groups]
            return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
        if path == "/api/v1/nodes":
            items = self.nodes
        elif path == "/api/v1/pods":
            items = self.pods
            if "status.phase!=Succeeded" in query.get("fieldSelector", ""):
                items = [p for p in items if p["status"]["phase"] not in ("Succeeded", "Failed")]
        else:
            return 404, {"kind": "Status", "code": 404, "message": f"no route for {path}"}
        start = int(query.get("continue") or 0)
        limit = int(query.get("limit") or 0) or len(items) or 1
        meta = {"continue": str(start + limit)} if start + limit < len(items) else {}
        page = items[start : start + limit]
        return 200, {"kind": "List", "apiVersion": "v1", "metadata": meta, "items": page}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                fake.requests.append(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                code, body = fake.listing(url.path, query)
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
