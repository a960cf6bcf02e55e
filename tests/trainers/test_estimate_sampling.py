"""The generation an objective that samples answers adds to the time estimate."""

from __future__ import annotations

import pytest

from trainers.estimate import GENERATE_TOKEN_SECONDS, Device
from trainers.estimate_sampling import answers_per_prompt, generation_seconds, sampling_seconds
from trainers.objectives.grpo_params import GrpoParams
from trainers.objectives.refusal_params import RefusalParams
from trainers.objectives.rejection_params import RejectionParams
from trainers.spec import TrainingParams

CPU = Device(kind="cpu", memory_bytes=8 * 2**30, flops=1e11, label="a CPU")
P = 135_000_000


def _params(objective: str, **group) -> dict:
    model = {"grpo": GrpoParams, "rejection_sampling": RejectionParams, "refusal_aware": RefusalParams}
    training = TrainingParams(batch_size=4, evals_per_run=1).model_dump()
    return {"objective": objective, "training": training, objective: model[objective](**group).model_dump()}


def _seconds(params: dict, **kw) -> float:
    given = {"total_params": P, "train_rows": 400, "eval_rows": 0, "steps": 100, "row_tokens": 40.0,
             "device": CPU} | kw  # fmt: skip
    return sampling_seconds(params["objective"], params, **given)


def test_one_generate_call_costs_its_tokens_overhead_and_compute():
    one = generation_seconds(total_params=P, calls=1, sequences=8, tokens_each=10, device=CPU)
    assert one == pytest.approx(10 * GENERATE_TOKEN_SECONDS["cpu"] + 2 * P * 80 / 1e11)


def test_grpo_generation_grows_with_the_group_and_the_completion_length():
    base = _seconds(_params("grpo", num_generations=8, max_completion_length=64, beta=0.0))
    assert _seconds(_params("grpo", num_generations=16, max_completion_length=64, beta=0.0)) > 1.5 * base
    assert _seconds(_params("grpo", num_generations=8, max_completion_length=128, beta=0.0)) == pytest.approx(
        2 * base
    )
    # 100 steps × 4 prompts × 8 answers × 64 tokens, one call of 64 tokens per step.
    assert base == pytest.approx(100 * 64 * GENERATE_TOKEN_SECONDS["cpu"] + 2 * P * 100 * 32 * 64 / 1e11)
    with_reference = _seconds(_params("grpo", num_generations=8, max_completion_length=64, beta=0.04))
    assert with_reference == pytest.approx(base + 2 * P * 100 * 32 * (40 + 64) / 1e11)


def test_held_out_answers_are_counted_at_each_evaluation_and_before_the_first():
    params = _params("refusal_aware", max_completion_length=32)
    params["training"]["evals_per_run"] = 3
    extra = _seconds(params, eval_rows=64) - _seconds(params, eval_rows=0)
    each = generation_seconds(total_params=P, calls=4, sequences=64, tokens_each=32, device=CPU)
    assert extra == pytest.approx(4 * each)


def test_rejection_sampling_draws_until_half_its_answers_would_verify_within_the_cap():
    assert answers_per_prompt({"keep_per_prompt": 4, "samples_per_round": 8, "max_samples": 32}) == 8
    assert answers_per_prompt({"keep_per_prompt": 8, "samples_per_round": 4, "max_samples": 12}) == 12
    few = _seconds(_params("rejection_sampling", keep_per_prompt=1, samples_per_round=2, max_samples=4))
    many = _seconds(_params("rejection_sampling", keep_per_prompt=8, samples_per_round=8, max_samples=64))
    assert many > 4 * few


def test_objectives_that_do_not_sample_cost_nothing_more():
    params = {"objective": "sft", "training": TrainingParams().model_dump()}
    assert sampling_seconds("sft", params, total_params=P, train_rows=400, eval_rows=40, steps=100,
                            row_tokens=40.0, device=CPU) == 0.0  # fmt: skip
