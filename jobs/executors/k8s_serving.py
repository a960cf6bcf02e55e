"""A vLLM serving Deployment and its Service for one base model and its LoRA adapters, on a GPU
compute profile: the Kubernetes counterpart of ``/openai/v1/chat/completions`` on CPU.

vLLM serves OpenAI's API itself; with ``--enable-lora`` one GPU holds the base model once and
applies each fine-tune's adapter per request (multi-LoRA), so every fine-tune of a base is served
by the same pods, under the same ``ft:…`` model ids Hone's API shows. The weights are read from
Hone's storage volume (the one trainer pods write to), never downloaded. Pods meet Pod Security
"restricted" as trainer pods do (``k8s_manifest``).
"""

from __future__ import annotations

from dataclasses import dataclass

from jobs.executors.k8s_manifest import KubeSettings, label_value, resources

PORT = 8000
MAX_LORA_RANK = 64  # Hone's presets train ranks 8–32; vLLM sizes its adapter slots by this


@dataclass(frozen=True)
class Served:
    """What one Deployment serves: the base model (id and folder) and its adapters (id → folder)."""

    name: str  # the Deployment's name, e.g. "serve-tiny-llama-3"
    base_id: str
    base_path: str
    adapters: tuple[tuple[str, str], ...] = ()


def build(cfg: KubeSettings, served: Served, profile: dict, *, image: str, replicas: int = 1) -> list[dict]:
    """The Deployment and Service; ValueError when the profile has no GPU (vLLM needs one)."""
    if not int(profile.get("gpu_count") or 0):
        raise ValueError(
            f"compute profile {profile.get('name', '?')} has no GPU; vLLM serves on GPUs. Pick a GPU "
            "profile, or use /openai/v1/chat/completions, which serves on CPU in the web process."
        )
    labels = {"app.kubernetes.io/name": "hone-serving", "hone.dev/served": label_value(served.name)}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": served.name, "namespace": cfg.namespace, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": _pod(cfg, served, profile, image)},
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": served.name, "namespace": cfg.namespace, "labels": labels},
        "spec": {"selector": labels, "ports": [{"name": "http", "port": PORT, "targetPort": "http"}]},
    }
    return [deployment, service]


def arguments(served: Served) -> list[str]:
    """vLLM's command line: the base under Hone's id, each adapter under its own."""
    args = ["--model", served.base_path, "--served-model-name", served.base_id, "--port", str(PORT)]
    if served.adapters:
        args += [
            "--enable-lora",
            "--max-loras",
            str(len(served.adapters)),
            "--max-lora-rank",
            str(MAX_LORA_RANK),
        ]
        args += ["--lora-modules", *(f"{name}={path}" for name, path in served.adapters)]
    return args


def _pod(cfg: KubeSettings, served: Served, profile: dict, image: str) -> dict:
    probe = {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 10}
    spec: dict = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": cfg.run_as_user,
            "runAsGroup": cfg.run_as_user,
            "fsGroup": cfg.run_as_user,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": "vllm",
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "args": arguments(served),
                "env": [
                    {"name": "HF_HUB_OFFLINE", "value": "1"},  # weights come from Hone's storage only
                    {"name": "HOME", "value": "/tmp"},
                ],
                "ports": [{"name": "http", "containerPort": PORT}],
                "resources": resources(profile),
                "readinessProbe": probe,
                "startupProbe": probe | {"failureThreshold": 60},  # loading weights takes minutes
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"]},
                    "runAsNonRoot": True,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "volumeMounts": [
                    {"name": "storage", "mountPath": cfg.storage, "readOnly": True},
                    {"name": "dshm", "mountPath": "/dev/shm"},
                    {"name": "tmp", "mountPath": "/tmp"},
                ],
            }
        ],
        "volumes": [
            {"name": "storage", "persistentVolumeClaim": {"claimName": cfg.storage_claim, "readOnly": True}},
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}},  # NCCL and workers
            {"name": "tmp", "emptyDir": {}},
        ],
    }
    if profile.get("node_selector"):
        spec["nodeSelector"] = {str(k): str(v) for k, v in profile["node_selector"].items()}
    if profile.get("tolerations"):
        spec["tolerations"] = list(profile["tolerations"])
    if cfg.image_pull_secret:
        spec["imagePullSecrets"] = [{"name": cfg.image_pull_secret}]
    return spec
