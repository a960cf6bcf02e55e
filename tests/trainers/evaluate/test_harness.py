"""Harness tasks in an evaluate job: the same scores as lm_eval run directly on the same model and data,
the chat template a model was trained with applied automatically, and missing data refused first."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.trainers.evaluate.test_evaluate_job import adapter_dir, evaluate_spec, events_of, ref, refused
from trainers.training_record import write_training_record

__all__ = ["adapter_dir"]  # the module-scoped fixture, shared with the evaluate job's tests

FIXTURE = Path(__file__).parent / "harness_fixture"
PRECISION = 4  # the report's and the page's digits


@pytest.fixture
def task_dir(tmp_path: Path) -> Path:
    """The hand-written task file, pointing at the fixture's rows by absolute path."""
    out = tmp_path / "tasks"
    out.mkdir()
    data = FIXTURE / "arithmetic_mc.jsonl"
    text = (FIXTURE / "arithmetic_mc.yaml").read_text().replace("{DATA}", str(data.resolve()))
    (out / "arithmetic_mc.yaml").write_text(text)
    return out


def lm_eval_directly(task_dir: Path, model_dir: Path, adapter: Path | None, *, chat: bool = False) -> dict:
    """lm_eval as its users run it: HFLM from the model's path (and peft adapter), the task by name."""
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    extra = {"peft": str(adapter), "tokenizer": str(adapter)} if adapter else {}
    lm = HFLM(pretrained=str(model_dir), device="cpu", batch_size=8, **extra)
    results = lm_eval.simple_evaluate(
        model=lm, tasks=["arithmetic_mc"], task_manager=TaskManager(include_path=str(task_dir)),
        num_fewshot=0, bootstrap_iters=0, log_samples=False, apply_chat_template=chat,
    )["results"]["arithmetic_mc"]
    return {"acc": results["acc,none"], "acc_norm": results["acc_norm,none"]}


def harness_rows(out: Path) -> dict[str, dict]:
    report = json.loads((out / "report.json").read_text())
    return {row["task"]: row for row in report["harness"]["tasks"]}, report


def rounded(metrics: dict) -> dict:
    return {name: round(value, PRECISION) for name, value in metrics.items()}


def test_a_task_file_and_an_upload_score_as_lm_eval_does_directly(
    tiny_model_dir: Path, adapter_dir: Path, task_dir: Path, tmp_path: Path
):
    base = {"model": {"name": "tiny", "path": str(tiny_model_dir)}}
    candidate = {**base, "adapter_path": str(adapter_dir)}
    upload = ref(FIXTURE / "arithmetic_mc.jsonl", "multiple_choice")
    harness = {"tasks": ["arithmetic_mc"], "task_dirs": [str(task_dir)], "datasets": [upload]}
    code, events = events_of(evaluate_spec(base, candidate, tmp_path / "out", prompts=[], harness=harness))
    assert code == 0, events[-1]
    rows, report = harness_rows(tmp_path / "out")
    direct_base = lm_eval_directly(task_dir, tiny_model_dir, None)
    direct_candidate = lm_eval_directly(task_dir, tiny_model_dir, adapter_dir)
    assert direct_base != direct_candidate  # the adapter changes the answers: the comparison can fail
    for task in ("arithmetic_mc", "hone_mc_0"):  # the task file, and the upload Hone wrote as a task
        assert rounded(rows[task]["base"]) == rounded(direct_base)
        assert rounded(rows[task]["candidate"]) == rounded(direct_candidate)
    assert rows["hone_mc_0"]["data"] == "arithmetic_mc.jsonl"
    assert report["harness"]["chat_template"] is None  # neither model was trained by Hone
    metrics = {(e["name"], e["step"]): e["value"] for e in events if e["kind"] == "metric"}
    assert metrics[("arithmetic_mc.acc", 1)] == rows["arithmetic_mc"]["candidate"]["acc"]


def test_the_chat_template_a_model_was_trained_with_is_applied_automatically(
    tiny_model_dir: Path, adapter_dir: Path, task_dir: Path, tmp_path: Path
):
    from transformers import AutoTokenizer

    trained = tmp_path / "trained-adapter"
    shutil.copytree(adapter_dir, trained)
    tokenizer = AutoTokenizer.from_pretrained(trained)
    assert tokenizer.chat_template  # the tiny model's own template, saved with the adapter
    write_training_record(trained, tokenizer, job_id=3)
    base = {"model": {"name": "tiny", "path": str(tiny_model_dir)}}
    spec = evaluate_spec(
        base, {**base, "adapter_path": str(trained)}, tmp_path / "out", prompts=[],
        harness={"tasks": ["arithmetic_mc"], "task_dirs": [str(task_dir)]},
    )
    assert events_of(spec)[0] == 0
    rows, report = harness_rows(tmp_path / "out")
    assert report["harness"]["chat_template"] is not None
    with_template = lm_eval_directly(task_dir, tiny_model_dir, trained, chat=True)
    assert with_template != lm_eval_directly(task_dir, tiny_model_dir, trained, chat=False)
    assert rounded(rows["arithmetic_mc"]["candidate"]) == rounded(with_template)


def test_a_task_whose_data_is_not_on_disk_is_refused_before_any_model_loads(
    tiny_model_dir: Path, task_dir: Path, tmp_path: Path
):
    lm = {"model": {"name": "tiny", "path": str(tiny_model_dir)}}
    (task_dir / "hub.yaml").write_text(
        "task: from_hub\ndataset_path: allenai/ai2_arc\ntest_split: test\noutput_type: multiple_choice\n"
        "doc_to_text: q\ndoc_to_choice: choices\ndoc_to_target: 0\n"
    )
    gone = (task_dir / "arithmetic_mc.yaml").read_text().replace("arithmetic_mc.jsonl", "gone.jsonl")
    (task_dir / "gone.yaml").write_text(gone.replace("task: arithmetic_mc", "task: gone_mc"))

    def harness(*tasks: str) -> dict:
        given = {"tasks": list(tasks), "task_dirs": [str(task_dir)]}
        return evaluate_spec(lm, lm, tmp_path / "out", harness=given)

    hub = "from_hub reads its data from the hub (dataset_path: allenai/ai2_arc)"
    assert hub in refused(harness("from_hub"))
    assert "harness.tasks[1]: the data of gone_mc is missing" in refused(harness("arithmetic_mc", "gone_mc"))
    assert "no harness task 'hellaswag'" in refused(harness("hellaswag"))
    instruction = ref(FIXTURE / "arithmetic_mc.jsonl", "instruction")
    wrong = evaluate_spec(lm, lm, tmp_path / "out", harness={"datasets": [instruction]})
    assert "harness.datasets[0].task: this job reads multiple_choice data" in refused(wrong)
