"""What travels with merged weights: config, tokenizer, and a model card with the merge's provenance.

The config and tokenizer come from the first input (for an adapter: the adapter's tokenizer when it
saved one, since Hone's training saves the chat template it used there, and the base's config).
``hone_merge.json`` repeats the provenance in machine-readable form.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from trainers.merge.inputs import TOKENIZER_FILES, AdapterDir, ModelDir

if TYPE_CHECKING:
    from trainers.merge.engine import MergeJob

PROVENANCE_FILE = "hone_merge.json"


def config_dir(job: MergeJob) -> Path:
    """Where the output's config.json comes from: the first full model, else the base."""
    for item in job.models:
        if isinstance(item, ModelDir):
            return item.path
    assert job.base is not None
    return job.base.path


def tokenizer_dir(job: MergeJob) -> Path:
    from trainers.merge.tokenizers import tokenizer_source_dir

    chosen = tokenizer_source_dir(job.spec, job.models, job.base)
    if chosen is not None:
        return chosen
    first = job.models[0].path
    return first if any((first / name).is_file() for name in TOKENIZER_FILES) else config_dir(job)


def write_support_files(job: MergeJob, out_dir: Path) -> None:
    source = tokenizer_dir(job)
    for name in TOKENIZER_FILES:
        if (source / name).is_file():
            shutil.copyfile(source / name, out_dir / name)
    if job.method.output != "model":
        return
    config = json.loads((config_dir(job) / "config.json").read_text(encoding="utf-8"))
    if job.spec.dtype != "auto":
        config["dtype"] = job.spec.dtype
        if "torch_dtype" in config:
            config["torch_dtype"] = job.spec.dtype
    (out_dir / "config.json").write_text(
        json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    generation = config_dir(job) / "generation_config.json"
    if generation.is_file():
        shutil.copyfile(generation, out_dir / "generation_config.json")


def provenance(job: MergeJob) -> dict:
    spec = job.spec
    return {
        "method": spec.method,
        "params": job.params.model_dump(mode="json"),
        "models": [
            {"name": m.name, "path": m.path, "weight": w, "kind": _kind(item)}
            for m, w, item in zip(spec.models, job.weights, job.models, strict=True)
        ],
        "base_model": spec.base_model.model_dump(exclude_none=True) if spec.base_model else None,
        "dtype": spec.dtype,
        "tokenizer_source": spec.tokenizer_source,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "job_id": spec.job_id,
        "attempt": spec.attempt,
    }


def _kind(item: ModelDir | AdapterDir) -> str:
    return "LoRA adapter" if isinstance(item, AdapterDir) else "model"


def write_model_card(job: MergeJob, out_dir: Path) -> None:
    record = provenance(job)
    (out_dir / PROVENANCE_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    (out_dir / "README.md").write_text(model_card(job, record), encoding="utf-8")


def model_card(job: MergeJob, record: dict) -> str:
    method, spec = job.method, job.spec
    names = [m["name"] for m in record["models"]]
    library = "peft" if method.output == "adapter" else "transformers"
    base = record["base_model"]
    lines = [
        "---",
        f"library_name: {library}",
        "tags: [merge, hone, " + method.name + "]",
        "base_model:",
        *(f"- {json.dumps(m['path'])}" for m in record["models"]),
        *([f"- {json.dumps(base.get('path') or base.get('hub_id'))}"] if base else []),
        "---",
        "",
        f"# {method.title} merge of {', '.join(names)}",
        "",
        f"Made with Hone's `{method.name}` merge: {method.help} Described in {method.paper}.",
        "",
        "## Inputs",
        "",
        "| # | name | kind | weight | path |",
        "|---|---|---|---|---|",
        *(
            f"| {i} | {m['name']} | {m['kind']} | {m['weight']:g} | `{m['path']}` |"
            for i, m in enumerate(record["models"])
        ),
        "",
        f"Base model: {base['name']} (`{base.get('path') or base.get('hub_id')}`)"
        if base
        else "No base model.",
        "",
        "## Parameters",
        "",
        *(f"- {name}: {value}" for name, value in record["params"].items()),
        f"- output dtype: {spec.dtype}",
        "",
        *job.notes,
        *([""] if job.notes else []),
        f"Merged {record['created']} by job {spec.job_id}, attempt {spec.attempt}. "
        f"The same record, machine-readable, is in `{PROVENANCE_FILE}`.",
        "",
    ]
    return "\n".join(lines)
