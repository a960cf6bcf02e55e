"""The time an objective that samples answers spends generating them, for the estimates
(``trainers.estimate.training_time`` counts the training itself).

Generation runs one token at a time: each new token is one forward pass over the sequences generated
together (``2 × parameters`` FLOPs per token) plus a per-token overhead that small models spend most
of their time in (``estimate.GENERATE_TOKEN_SECONDS``). Answers are counted at their full budget
(``max_completion_length``): an upper bound, as most stop earlier. Per objective:

- ``grpo``: each optimizer step samples ``num_generations`` answers for each of its prompts (TRL
  generates a step's prompts × accumulation at once), and the reference model (``beta`` > 0) reads
  every prompt and answer once more; held-out prompts (at most 64) are answered greedily before the
  first step and at every evaluation.
- ``rejection_sampling``: before SFT, each training prompt gets ``samples_per_round`` answers a round
  until ``keep_per_prompt`` verify or ``max_samples`` were drawn; the estimate assumes half the answers
  verify (``2 × keep_per_prompt`` drawn, within the cap), plus the held-out answers as for grpo.
- ``refusal_aware``: one greedy answer per training question, 16 at a time, plus the held-out answers.

Nothing here imports torch.
"""

from __future__ import annotations

import math

from trainers.estimate import GENERATE_TOKEN_SECONDS, Device

HELDOUT_PROMPTS = 64  # trainers.objectives.grpo.MAX_HELDOUT
HELDOUT_BATCH = 16  # trainers.objectives.grpo_callback.EVAL_BATCH
PROMPTS_PER_BATCH = 16  # trainers.objectives.rejection_sampling.PROMPTS_PER_BATCH


def generation_seconds(
    *, total_params: int, calls: int, sequences: int, tokens_each: int, device: Device
) -> float:
    """``calls`` generate calls of ``tokens_each`` new tokens, ``sequences`` answers in all."""
    compute = 2 * total_params * sequences * tokens_each / device.flops
    return compute + calls * tokens_each * GENERATE_TOKEN_SECONDS[device.kind]


def answers_per_prompt(group: dict) -> int:
    """The answers rejection sampling likely draws per prompt (see the module's docstring)."""
    per_round = group["samples_per_round"]
    rounds = math.ceil(2 * group["keep_per_prompt"] / per_round)
    return min(group["max_samples"], rounds * per_round)


def sampling_seconds(
    objective: str, params: dict, *, total_params: int, train_rows: int, eval_rows: int, steps: int,
    row_tokens: float, device: Device,
) -> float:  # fmt: skip
    """Seconds ``objective`` spends generating (and grpo's reference model reading) beyond what
    ``training_time`` counts; 0 for objectives that do not sample. ``params``: the job's params as
    stored (groups filled in); ``row_tokens``: a row's mean length, standing in for its prompt's."""
    group = params.get(objective)
    if objective not in ("grpo", "rejection_sampling", "refusal_aware") or not group:
        return 0.0
    t = params["training"]
    tokens = group["max_completion_length"]
    heldout = min(eval_rows, HELDOUT_PROMPTS)
    evals = t["evals_per_run"] + 1  # and before the first step
    seconds = evals * generation_seconds(total_params=total_params, calls=math.ceil(heldout / HELDOUT_BATCH),
                                         sequences=heldout, tokens_each=tokens, device=device)  # fmt: skip
    if objective == "grpo":
        per_step = t["batch_size"] * t["gradient_accumulation_steps"] * group["num_generations"]
        seconds += generation_seconds(total_params=total_params, calls=steps, sequences=steps * per_step,
                                      tokens_each=tokens, device=device)  # fmt: skip
        if group["beta"] > 0:  # the reference model's forward pass over every prompt and answer
            seconds += 2 * total_params * steps * per_step * (row_tokens + tokens) / device.flops
    elif objective == "rejection_sampling":
        each = answers_per_prompt(group)
        rounds = math.ceil(each / group["samples_per_round"])
        calls = rounds * math.ceil(train_rows / PROMPTS_PER_BATCH)
        seconds += generation_seconds(total_params=total_params, calls=calls, sequences=train_rows * each,
                                      tokens_each=tokens, device=device)  # fmt: skip
    else:
        seconds += generation_seconds(total_params=total_params, calls=math.ceil(train_rows / HELDOUT_BATCH),
                                      sequences=train_rows, tokens_each=tokens, device=device)  # fmt: skip
    return seconds


def grpo_tokens_per_prompt(params: dict, row_tokens: float) -> float:
    """Tokens a grpo step trains on for each prompt: its group's answers, each after the prompt."""
    group = params["grpo"]
    return group["num_generations"] * (row_tokens + group["max_completion_length"])
