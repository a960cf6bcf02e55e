"""Standard suites through lm-evaluation-harness (``lm_eval``), on data already on disk.

Before any model is loaded, ``prepare_harness`` writes each uploaded multiple-choice dataset as a
harness task (its rows as JSONL and a task YAML that Hone writes itself: no template or code from
the user runs), finds every named task in the task directories, and refuses a task whose data is not
a local file: the harness would otherwise try to download it. ``run_harness`` then evaluates one
loaded model with ``lm_eval.simple_evaluate`` on those tasks, exactly as ``lm_eval`` run directly
on the same model and files would.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainers.data import load_rows
from trainers.evaluation.data import check_dataset
from trainers.spec import DatasetRef, SpecError
from trainers.spec_evaluate import HarnessSpec

log = logging.getLogger("trainers")

UPLOADED_PREFIX = "hone_mc_"
# Harness dataset builders that read local files (``dataset_kwargs.data_files``) instead of the hub.
LOCAL_BUILDERS = {"json", "csv", "parquet", "text", "arrow"}
BATCH_SIZE = 8


@dataclass
class PreparedHarness:
    include_path: list[str]
    tasks: list[str]
    sources: dict[str, str] = field(default_factory=dict)  # task → where its data is, for the report


def prepare_harness(spec: HarnessSpec, work_dir: Path) -> PreparedHarness:
    """The tasks to run and where the harness finds them; SpecError naming the task otherwise."""
    for i, directory in enumerate(spec.task_dirs):
        if not Path(directory).is_dir():
            raise SpecError(f"harness.task_dirs[{i}]: {directory} is not a directory")
    uploaded_dir = work_dir / "harness_tasks"
    sources = {
        f"{UPLOADED_PREFIX}{i}": write_uploaded_task(ref, f"{UPLOADED_PREFIX}{i}", uploaded_dir, i)
        for i, ref in enumerate(spec.datasets)
    }
    include = [*([str(uploaded_dir)] if spec.datasets else []), *spec.task_dirs]
    index = task_index(include)
    for i, name in enumerate(spec.tasks):
        sources[name] = local_data_of(index, name, f"harness.tasks[{i}]")
    return PreparedHarness(include, [*sources], sources)


def write_uploaded_task(ref: DatasetRef, name: str, out_dir: Path, i: int) -> str:
    """A multiple-choice dataset as a harness task: ``<name>.jsonl`` and ``<name>.yaml``."""
    check_dataset(ref, f"harness.datasets[{i}]", ("multiple_choice",))
    rows = load_rows(Path(ref.path), ref.format, ref.task)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = out_dir / f"{name}.jsonl"
    data.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    (out_dir / f"{name}.yaml").write_text(json.dumps(multiple_choice_task(name, data), indent=1), "utf-8")
    return Path(ref.path).name


def multiple_choice_task(name: str, data: Path) -> dict:
    """The harness task config (YAML is a superset of JSON) of Hone's multiple-choice rows."""
    return {
        "task": name,
        "dataset_path": "json",
        # The datasets library's cache in the job's own directory, not the home of whoever runs it.
        "dataset_kwargs": {
            "data_files": {"test": str(data.resolve())}, "cache_dir": str(data.parent.resolve() / "cache"),
        },
        "test_split": "test",
        "output_type": "multiple_choice",
        "doc_to_text": "Question: {{question}}\nAnswer:",
        "doc_to_choice": "choices",
        "doc_to_target": "answer",
        "metric_list": [
            {"metric": "acc", "aggregation": "mean", "higher_is_better": True},
            {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True},
        ],
    }


def task_index(include: list[str]) -> dict[str, Any]:
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=include, include_defaults=False).task_index if include else {}


def local_data_of(index: dict[str, Any], name: str, where: str) -> str:
    """Where a named task's data is on disk; SpecError if it is not a task or its data is not local."""
    entry = index.get(name)
    if entry is None:
        known = ", ".join(sorted(n for n, e in index.items() if e.cfg)[:20]) or "none"
        raise SpecError(
            f"{where}: no harness task {name!r} in the task directories (known: {known}); the harness's "
            "built-in tasks read their data from the Hugging Face hub, which Hone does not download"
        )
    cfg = entry.cfg or {}
    if "dataset_path" not in cfg:
        raise SpecError(f"{where}: {name} is a group or tag, not a task; name its tasks one by one")
    dataset_path = str(cfg["dataset_path"])
    if dataset_path in LOCAL_BUILDERS:
        files = data_files(cfg.get("dataset_kwargs") or {})
        missing = [f for f in files if not Path(f).is_file()]
        if not files or missing:
            shown = ", ".join(missing) or "none given"
            raise SpecError(
                f"{where}: the data of {name} is missing ({shown}); its task file "
                f"{entry.yaml_path} must name local files in dataset_kwargs.data_files"
            )
        return ", ".join(Path(f).name for f in files)
    if Path(dataset_path).exists():
        return dataset_path
    raise SpecError(
        f"{where}: {name} reads its data from the hub (dataset_path: {dataset_path}), which Hone does not "
        "download at run time; install the data with the task file and point dataset_path at it"
    )


def data_files(kwargs: dict) -> list[str]:
    given = kwargs.get("data_files") or []
    values = given.values() if isinstance(given, dict) else [given]
    return [str(f) for value in values for f in ([value] if isinstance(value, str) else value)]


def run_harness(model: Any, tokenizer: Any, prepared: PreparedHarness, spec: HarnessSpec,
                *, chat_template: bool) -> dict[str, dict[str, float]]:
    """``{task: {metric: value}}`` for one loaded model (``acc``, ``acc_norm``, ...; no stderr)."""
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    device = str(next(model.parameters()).device)
    lm = HFLM(pretrained=model, tokenizer=tokenizer, device=device, batch_size=BATCH_SIZE)
    results = lm_eval.simple_evaluate(
        model=lm,
        tasks=prepared.tasks,
        task_manager=TaskManager(include_path=prepared.include_path, include_defaults=False),
        num_fewshot=spec.num_fewshot,
        limit=spec.limit,
        bootstrap_iters=0,
        log_samples=False,
        apply_chat_template=chat_template,
    )
    return {task: task_metrics(results["results"][task]) for task in prepared.tasks}


def task_metrics(row: dict) -> dict[str, float]:
    """``{"acc,none": 0.5, "acc_stderr,none": "N/A", ...}`` → ``{"acc": 0.5}`` (the default filter)."""
    found = {}
    for key, value in row.items():
        metric, _, filter_name = key.partition(",")
        if filter_name and "_stderr" not in metric and isinstance(value, int | float):
            found[metric if filter_name == "none" else f"{metric}_{filter_name}"] = float(value)
    return found
