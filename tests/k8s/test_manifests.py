"""Every manifest in k8s/ (rendered per overlay by kustomize) and every Job and Secret the
executor makes validates against the Kubernetes OpenAPI schemas of pinned versions, and
meets Pod Security "restricted"."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from jobs.executors import k8s_manifest as manifest
from jobs.executors.base import Submission

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = sorted(p.name for p in (ROOT / "k8s" / "overlays").iterdir())
# The oldest Kubernetes Hone supports (podFailurePolicy is GA from 1.31) and the newest schemas.
VERSIONS = ["1.31.0", "1.37.0"]
CFG = manifest.KubeSettings(
    namespace="hone", image="ghcr.io/example/hone:0.1.0", storage="/srv/hone/storage",
    storage_claim="hone-storage", service_account="hone-trainer", trainer_secret="hone-trainer-env",
)
GPU = {
    "name": "gpu-a100", "gpu_type": "nvidia-a100-80gb", "gpu_count": 2, "cpu": "16", "memory": "128Gi",
    "node_selector": {"nvidia.com/gpu.present": "true"},
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    "priority_class": "hone-training", "max_runtime_seconds": 86400,
}


def kustomize(path: Path) -> list[dict]:
    if shutil.which("kustomize"):
        command = ["kustomize", "build", str(path)]
    else:
        assert shutil.which("kubectl"), "kustomize or kubectl is needed: see scripts/check-kustomize"
        command = ["kubectl", "kustomize", str(path)]
    out = subprocess.run(command, check=True, capture_output=True, text=True, timeout=60).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request) -> list[dict]:
    return kustomize(ROOT / "k8s" / "overlays" / request.param)


def generated() -> list[dict]:
    submission = Submission(12, 3, {}, {"HONE_EVENTS_TOKEN": "t"}, team="Acme_Research", profile=GPU)
    spec = manifest.run_dir(CFG.storage, 12, 3) / "spec.json"
    kueue = manifest.KubeSettings(**{**CFG.__dict__, "kueue_queue": "hone", "image_pull_secret": "registry"})
    plain = Submission(7, 1, {}, {"HONE_EVENTS_TOKEN": "t"})
    return [
        manifest.build_job(CFG, submission, spec),
        manifest.build_job(kueue, submission, spec),
        manifest.build_job(CFG, plain, spec),  # no profile: the defaults
        manifest.build_secret(CFG, submission),
    ]


def pod_specs(docs: list[dict]) -> list[dict]:
    found = []
    for doc in docs:
        if doc["kind"] in ("Deployment", "StatefulSet", "Job"):
            found.append(doc["spec"]["template"]["spec"])
    return found


def assert_restricted(pod: dict) -> None:
    """The Pod Security Standards "restricted" profile, as admission would check it."""
    pod_ctx = pod.get("securityContext", {})
    assert pod_ctx.get("seccompProfile", {}).get("type") == "RuntimeDefault"
    for volume in pod.get("volumes", []):
        assert set(volume) - {"name"} <= {"persistentVolumeClaim", "emptyDir", "configMap", "secret",
                                         "projected", "downwardAPI", "ephemeral", "csi"}, volume
    for c in pod.get("initContainers", []) + pod["containers"]:
        ctx = c.get("securityContext", {})
        assert ctx.get("allowPrivilegeEscalation") is False, c["name"]
        assert ctx.get("capabilities", {}).get("drop") == ["ALL"], c["name"]
        assert ctx.get("runAsNonRoot") or pod_ctx.get("runAsNonRoot"), c["name"]
        assert not ctx.get("privileged"), c["name"]
        assert all(p.get("hostPort") is None for p in c.get("ports", [])), c["name"]


@pytest.mark.parametrize("version", VERSIONS)
def test_every_rendered_manifest_is_valid_kubernetes(rendered, version):
    for doc in rendered:
        kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize("version", VERSIONS)
def test_every_job_and_secret_the_executor_makes_is_valid_kubernetes(version):
    for doc in generated():
        kubernetes_validate.validate(doc, version, strict=True)


def test_an_invalid_object_is_refused_so_the_check_means_something():
    wrong_type = generated()[0]
    wrong_type["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] = ["64Gi"]
    misspelt = generated()[0]
    misspelt["spec"]["podFailurPolicy"] = misspelt["spec"].pop("podFailurePolicy")
    for job in (wrong_type, misspelt):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(job, VERSIONS[0], strict=True)


def test_every_pod_meets_pod_security_restricted(rendered):
    for pod in pod_specs(rendered) + pod_specs(generated()):
        assert_restricted(pod)
    namespace = next(d for d in rendered if d["kind"] == "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_the_executor_role_is_least_privilege(rendered):
    role = next(d for d in rendered if d["kind"] == "Role")
    granted = {(g, r): set(rule["verbs"]) for rule in role["rules"] for g in rule["apiGroups"]
               for r in rule["resources"]}
    assert all("*" not in verbs for verbs in granted.values())
    assert granted == {
        ("batch", "jobs"): {"create", "get", "list", "delete"},
        ("", "pods"): {"list"},
        ("", "pods/log"): {"get"},
        ("", "secrets"): {"create", "patch"},  # never read back
        ("", "services"): {"create", "patch"},  # a multi-node attempt's headless Service
        ("jobset.x-k8s.io", "jobsets"): {"create", "get", "delete"},  # or its JobSet
    }
    binding = next(d for d in rendered if d["kind"] == "RoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "hone", "namespace": "hone"}]


def test_trainers_run_the_workers_image_with_the_claim_every_pod_mounts(rendered):
    config = next(d for d in rendered if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "hone-config")
    worker = next(d for d in rendered if d["kind"] == "Deployment" and d["metadata"]["name"] == "hone-worker")
    assert config["data"]["HONE_K8S_IMAGE"] == worker["spec"]["template"]["spec"]["containers"][0]["image"]
    claims = {d["metadata"]["name"] for d in rendered if d["kind"] == "PersistentVolumeClaim"}
    assert config["data"]["HONE_K8S_STORAGE_CLAIM"] in claims
    pvc = next(d for d in rendered if d["kind"] == "PersistentVolumeClaim")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]


def test_web_probes_reach_the_health_endpoints(rendered):
    web = next(d for d in rendered if d["kind"] == "Deployment" and d["metadata"]["name"] == "hone-web")
    container = web["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    config = next(d for d in rendered if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "hone-config")
    host = container["readinessProbe"]["httpGet"]["httpHeaders"][0]["value"]
    assert host in config["data"]["ALLOWED_HOSTS"].split(",")


def test_labels_are_valid_even_for_awkward_team_slugs():
    job = generated()[0]
    assert job["metadata"]["labels"]["hone.dev/team"] == "Acme_Research"
    assert manifest.label_value("-" + "x" * 80 + "-") == "x" * 62
    assert manifest.label_value("über team") == "ber-team"
