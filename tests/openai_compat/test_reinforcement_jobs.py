"""``method: reinforcement`` through the official client, without a worker: OpenAI's reinforcement
file becomes chat rows ending on the reference, the grader becomes the grpo job's rewards, and what
does not map (python and score_model graders, ``ne``, hyperparameters without a Hone counterpart, a
field the rows lack) is an OpenAI-shaped 400 naming its place, with nothing created."""

from __future__ import annotations

import io
import json

import openai
import pytest

from api.models import OpenAIFineTune
from api.openai_compat import ids
from jobs.models import Dataset, Job
from tests.openai_compat.conftest import chat_rows, jsonl

SAMPLE, ITEM = "{{sample.output_text}}", "{{item.answer}}"
EQ = {"type": "string_check", "name": "exact", "input": SAMPLE, "reference": ITEM, "operation": "eq"}


def rft_rows(n: int = 12) -> list[dict]:
    """OpenAI's reinforcement format: the prompt's messages and the field the grader references."""
    from trainers.tiny import demo_instruction_rows

    return [
        {
            "messages": [{"role": "user", "content": f"{r['instruction']} {r['input']}".strip()}],
            "answer": r["output"],
        }
        for r in demo_instruction_rows(n)
    ]


def upload(client, rows: list[dict], name: str = "rft.jsonl"):
    return client.files.create(file=(name, io.BytesIO(jsonl(rows))), purpose="fine-tune")


@pytest.fixture
def rft_file(client):
    return upload(client, rft_rows())


@pytest.fixture
def base_id(client, tiny_model) -> str:
    return ids.model_id(tiny_model)


def reinforce(grader: dict, **hyperparameters) -> dict:
    inner: dict = {"grader": grader}
    if hyperparameters:
        inner["hyperparameters"] = hyperparameters
    return {"type": "reinforcement", "reinforcement": inner}


def test_the_file_becomes_chat_rows_ending_on_the_reference(client, rft_file) -> None:
    dataset = Dataset.objects.get(pk=ids.parse("file", rft_file.id))
    assert (dataset.task, dataset.row_count) == ("chat", 12)
    given = rft_rows(1)[0]
    stored = json.loads(client.files.content(rft_file.id).text.splitlines()[0])
    assert stored["messages"] == [*given["messages"], {"role": "assistant", "content": given["answer"]}]
    assert stored["answer"] == given["answer"]  # kept, so a job's grader can be checked against it


def test_a_string_check_eq_job_is_a_grpo_job_scored_by_exact_match(client, rft_file, base_id) -> None:
    job = client.fine_tuning.jobs.create(
        model=base_id,
        training_file=rft_file.id,
        method=reinforce(EQ, n_epochs=2, compute_multiplier=0.5, reasoning_effort="default"),
    )
    record = Job.objects.get(pk=ids.parse("job", job.id))
    assert (record.kind, record.objective, record.status) == ("train", "grpo", "queued")
    assert record.params["grpo"]["rewards"] == [
        {"name": "exact_match", "weight": 1.0, "params": {"case_sensitive": True}}
    ]
    assert record.params["grpo"]["num_generations"] == 4  # 8 answers per prompt × 0.5
    assert record.params["training"]["epochs"] == 2
    # the preset's RL rate, leaving room for the sampled answer
    assert record.params["training"]["learning_rate"] <= 1e-4
    assert record.params["training"]["max_seq_length"] >= 64
    assert job.method.type == "reinforcement"
    shown = client.fine_tuning.jobs.retrieve(job.id).method.reinforcement
    assert shown.grader.type == "string_check" and shown.grader.reference == ITEM
    assert shown.hyperparameters.compute_multiplier == 0.5 and shown.hyperparameters.n_epochs == 2


def test_multi_with_a_weighted_sum_is_the_rewards_with_those_weights(client, rft_file, base_id) -> None:
    loose = {**EQ, "name": "loose", "operation": "ilike"}
    grader = {
        "type": "multi",
        "name": "both",
        "graders": {"exact": EQ, "loose": loose},
        "calculate_output": "0.7 * exact + loose * 0.3",
    }
    job = client.fine_tuning.jobs.create(model=base_id, training_file=rft_file.id, method=reinforce(grader))
    rewards = Job.objects.get(pk=ids.parse("job", job.id)).params["grpo"]["rewards"]
    assert rewards == [
        {"name": "exact_match", "weight": 0.7, "params": {"case_sensitive": True}},
        {"name": "contains", "weight": 0.3, "params": {"case_sensitive": False}},
    ]


G = "method.reinforcement.grader"
H = "method.reinforcement.hyperparameters"


# (method, the param the 400 names, words its message holds). One test goes through them all: each
# case is a request to the same live server with the same team and file, and what each would cost
# on its own is the test database's set-up and flush, not the request.
REFUSALS = [
    (reinforce({"type": "python", "source": "def grade(s, i): return 1"}), f"{G}.type", "no user code"),
    (reinforce({"type": "score_model", "model": "o3", "input": []}), f"{G}.type", "reward model"),
    (
        reinforce({**EQ, "type": "text_similarity", "evaluation_metric": "bleu"}),
        f"{G}.type",
        "similarity",
    ),
    (reinforce({**EQ, "operation": "ne"}), f"{G}.operation", "'ne'"),
    (reinforce({**EQ, "reference": "Paris"}), f"{G}.reference", "item.answer"),
    (reinforce({**EQ, "input": "{{item.answer}}"}), f"{G}.input", "sample"),
    (
        reinforce({"type": "multi", "graders": {"a": EQ}, "calculate_output": "max(a, 1)"}),
        f"{G}.calculate_output",
        "weighted sum",
    ),
    (
        reinforce(
            {
                "type": "multi",
                "graders": {"a": EQ, "b": {**EQ, "reference": "{{item.other}}"}},
                "calculate_output": "a + b",
            }
        ),  # fmt: skip
        f"{G}.graders",
        "one reference per row",
    ),
    (
        reinforce({"type": "multi", "graders": {"a": {**EQ, "type": "python"}}, "calculate_output": "a"}),
        f"{G}.graders.a.type",
        "no user code",
    ),
    (reinforce(EQ, reasoning_effort="high"), f"{H}.reasoning_effort", "reasoning-effort"),
    (reinforce(EQ, eval_interval=10), f"{H}.eval_interval", "evals_per_run"),
    (reinforce(EQ, eval_samples=4), f"{H}.eval_samples", "one greedy answer"),
    (reinforce(EQ, compute_multiplier=0.1), f"{H}.compute_multiplier", "greater than or equal to 2"),
    (reinforce(EQ, beta=0.1), f"{H}.beta", "not a hyperparameter"),
]


def test_what_does_not_map_is_a_400_naming_its_place(client, rft_file, base_id) -> None:
    wrong = []
    for method, param, words in REFUSALS:
        try:
            client.fine_tuning.jobs.create(model=base_id, training_file=rft_file.id, method=method)
        except openai.BadRequestError as exc:
            error = exc.body
        else:
            wrong.append(f"{param}: no 400")
            continue
        if error["param"] != param or words not in error["message"]:
            wrong.append(f"{param}: {error}")
        if Job.objects.exists() or OpenAIFineTune.objects.exists():
            wrong.append(f"{param}: a job was created")
    assert wrong == [], "\n".join(wrong)


def test_a_field_the_rows_lack_is_named_with_its_line(client, rft_file, base_id) -> None:
    chats = upload(client, chat_rows(6), "chat.jsonl")  # SFT rows: no 'answer' field
    for training, field in ((rft_file.id, "solution"), (chats.id, "answer")):
        grader = {**EQ, "reference": f"{{{{item.{field}}}}}"}
        with pytest.raises(openai.BadRequestError) as caught:
            client.fine_tuning.jobs.create(model=base_id, training_file=training, method=reinforce(grader))
        assert caught.value.body["param"] == "training_file"
        assert f"line 1, field '{field}': missing" in caught.value.body["message"]
    assert not Job.objects.exists()


def test_a_row_with_an_answer_turn_or_no_reference_is_refused_on_upload(client) -> None:
    rows = rft_rows(3)
    rows[1]["messages"].append({"role": "assistant", "content": "x"})
    rows[2] = {"messages": rows[2]["messages"], "why": "a", "notes": "b"}
    with pytest.raises(openai.BadRequestError) as caught:
        upload(client, rows)
    message = caught.value.body["message"]
    assert "line 2, messages: has an assistant turn" in message
    assert "line 3, row: has several fields besides messages (why, notes)" in message
    assert not Dataset.objects.exists()


def test_the_jobs_spec_trains_with_the_graders_reward(client, rft_file, base_id, tmp_path) -> None:
    """The spec the worker would run, trained for a few steps in-process: the reward is the grader's."""
    from jobs.lifecycle.specs import build_spec
    from trainers.events import EventEmitter
    from trainers.spec import parse_spec
    from trainers.train import run_training

    job = client.fine_tuning.jobs.create(
        model=base_id, training_file=rft_file.id, method=reinforce(EQ, n_epochs=1, compute_multiplier=0.25)
    )
    spec = build_spec(Job.objects.get(pk=ids.parse("job", job.id)), 1, None)
    spec["output_dir"] = str(tmp_path / "out")
    spec["grpo"]["max_completion_length"] = 4  # a few tokens per answer keeps the run to seconds
    out = io.StringIO()
    run_training(parse_spec(spec), EventEmitter(out))
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    rewards = [e for e in events if e["kind"] == "metric" and e["name"] == "reward_exact_match"]
    assert rewards and all(0.0 <= e["value"] <= 1.0 for e in rewards)
