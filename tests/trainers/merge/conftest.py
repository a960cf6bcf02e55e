"""Pico model families for merge tests: a base, fine-tunes of it, LoRA adapters, and misfits.

Fine-tunes are the base plus seeded random changes, written with the safetensors library; the
adapters are made with peft. Reference results in the tests are computed from full state dicts
loaded with ``safetensors.torch.load_file`` and plain torch, independently of trainers.merge.
"""

from __future__ import annotations

import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from trainers.cli import run_job
from trainers.events import EventEmitter
from trainers.spec import parse_spec

SUPPORT = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
)


def load_state(model_dir: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a saved model (sharded or not), read with the safetensors library."""
    state: dict[str, torch.Tensor] = {}
    index = model_dir / "model.safetensors.index.json"
    files = (
        sorted(set(json.loads(index.read_text())["weight_map"].values()))
        if index.is_file()
        else ["model.safetensors"]
    )
    for name in files:
        state.update(load_file(model_dir / name))
    return state


def copy_support(source: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name in SUPPORT:
        if (source / name).is_file():
            shutil.copyfile(source / name, target / name)


def fine_tune(base: Path, target: Path, *, seed: int, scale: float = 0.02, shared: float = 0.0) -> Path:
    """``base`` plus seeded changes; ``shared`` mixes in a change common to all fine-tunes (same sign)."""
    state = load_state(base)
    own = torch.Generator().manual_seed(seed)
    common = torch.Generator().manual_seed(12345)
    changed = {}
    for name, tensor in state.items():
        delta = torch.randn(tensor.shape, generator=own) * scale
        if shared:
            delta += torch.randn(tensor.shape, generator=common) * shared
        changed[name] = tensor + delta
    copy_support(base, target)
    save_file(changed, target / "model.safetensors", metadata={"format": "pt"})
    return target


@dataclass
class Family:
    base: Path
    tunes: list[Path]  # three fine-tunes of base
    root: Path


@pytest.fixture(scope="session")
def family(tmp_path_factory: pytest.TempPathFactory) -> Family:
    from trainers.tiny import build_tiny_llama

    root = tmp_path_factory.mktemp("merge-family")
    base = build_tiny_llama(root / "base", seed=0)
    tunes = [fine_tune(base, root / f"tune-{i}", seed=i + 1, shared=0.01) for i in range(3)]
    return Family(base, tunes, root)


def make_adapter(base: Path, target: Path, *, seed: int, r: int = 4, **lora: object) -> Path:
    """A LoRA adapter with random A and B (so folding it changes the model), saved by peft."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base)
    options = {"target_modules": ["q_proj", "v_proj", "up_proj"], "lora_alpha": 8, **lora}
    config = LoraConfig(r=r, init_lora_weights=False, **options)
    peft_model = get_peft_model(model, config)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_" in name:
                param.mul_(0.5)  # peft's random init is large for a pico model; keep the changes moderate
            elif "modules_to_save" in name:
                param.add_(torch.randn_like(param) * 0.02)  # a retrained layer saved whole
    peft_model.save_pretrained(target)
    return target


@pytest.fixture(scope="session")
def adapters(family: Family) -> dict[str, Path]:
    root = family.root / "adapters"
    return {
        "a": make_adapter(family.base, root / "a", seed=1),
        "b": make_adapter(family.base, root / "b", seed=2),
        "r8": make_adapter(family.base, root / "r8", seed=3, r=8),
    }


def merge_spec(method: str, models: list, out: Path, **fields: object) -> dict:
    """A merge spec; ``models`` items are paths or (path, weight) pairs."""
    inputs = []
    for i, item in enumerate(models):
        path, weight = item if isinstance(item, tuple) else (item, None)
        inputs.append(
            {"name": f"m{i}", "path": str(path), **({"weight": weight} if weight is not None else {})}
        )
    spec = {
        "kind": "merge",
        "job_id": 3,
        "attempt": 1,
        "method": method,
        "models": inputs,
        "output_dir": str(out),
    }
    if "base" in fields:
        fields["base_model"] = {"name": "base", "path": str(fields.pop("base"))}
    return {**spec, **fields}


@dataclass
class MergeRun:
    code: int
    events: list[dict]

    def of_kind(self, kind: str) -> list[dict]:
        return [e for e in self.events if e["kind"] == kind]

    @property
    def error(self) -> str:
        return self.events[-1]["error"] or ""


def run_merge_spec(spec: dict) -> MergeRun:
    """Validate and run a merge in this process, as the trainer CLI does; SpecError → exit 2."""
    from trainers.cli import EXIT_INVALID
    from trainers.spec import SpecError

    out = io.StringIO()
    emitter = EventEmitter(out)
    try:
        parsed = parse_spec(spec)
    except SpecError as exc:
        emitter.finished("failed", f"SpecError: {exc}")
        return MergeRun(EXIT_INVALID, [json.loads(line) for line in out.getvalue().splitlines()])
    code = run_job(parsed, emitter)
    return MergeRun(code, [json.loads(line) for line in out.getvalue().splitlines()])


def merged(spec: dict) -> dict[str, torch.Tensor]:
    result = run_merge_spec(spec)
    assert result.code == 0, result.error
    return load_state(Path(spec["output_dir"]))


@dataclass
class CliRun:
    code: int
    events: list[dict]
    stderr: str
    peak_rss: int  # bytes: the process's high-water mark (VmHWM)
    seconds: float


# Runs the trainer's entry point and, as it exits, saves its /proc/self/status. Not the parent's
# rusage: Linux carries a forked child's high-water mark (the parent's, for a big pytest) over execve.
_WITH_STATUS = (
    "import atexit, runpy, sys; status_path, sys.argv = sys.argv[1], ['trainers', *sys.argv[2:]]; "
    "atexit.register(lambda: open(status_path, 'w').write(open('/proc/self/status').read())); "
    "runpy.run_module('trainers', run_name='__main__')"
)


def run_cli(spec: dict, workdir: Path) -> CliRun:
    """``python -m trainers run spec.json`` as the platform starts it, with its own peak memory."""
    import subprocess
    import sys
    import time

    from tests.trainers.conftest import REPO, trainer_env

    spec_path, status_path = workdir / "spec.json", workdir / "status"
    spec_path.write_text(json.dumps(spec))
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", _WITH_STATUS, str(status_path), "run", str(spec_path)],
        cwd=REPO,
        env=trainer_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    seconds = time.monotonic() - started
    status = dict(line.split(":", 1) for line in status_path.read_text().splitlines())
    peak = int(status["VmHWM"].split()[0]) * 1024  # "123456 kB"
    events = [json.loads(line) for line in result.stdout.splitlines()]
    return CliRun(result.returncode, events, result.stderr, peak, seconds)
