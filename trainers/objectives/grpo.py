"""GRPO through TRL's ``GRPOTrainer``: for each prompt sample a group of answers, score each with the
job's rewards (``trainers.rewards``), and push the model towards the answers above their group's mean,
held near the reference by a KL term (``grpo.beta``).

``training.batch_size`` counts prompts per step; each brings ``grpo.num_generations`` completions, so
TRL's per-device batch is their product. TRL's own evaluation (sampling a group per held-out prompt)
is off: ``GrpoCallback`` (grpo_callback.py) answers the held-out prompts greedily instead, and reports
accuracy and rewards on them, with sample completions and their scores.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

from trainers import methods, train
from trainers.callbacks import EventsCallback
from trainers.data import DataError
from trainers.formats import UNITS
from trainers.objectives import grpo_data
from trainers.objectives.base import Built, Recipe
from trainers.objectives.grpo_callback import GRPO_METRICS, GrpoCallback, make_callback
from trainers.objectives.grpo_params import GrpoParams
from trainers.objectives.preference import save, trl_config
from trainers.rewards import registry as rewards
from trainers.spec import SpecError, TrainSpec

log = logging.getLogger("trainers")

MAX_HELDOUT = 64  # held-out prompts answered at each evaluation; more only makes it slower


def params_of(spec: TrainSpec) -> GrpoParams:
    p = spec.objective_params()
    assert isinstance(p, GrpoParams)
    return p


def check(spec: TrainSpec) -> None:
    p, t = params_of(spec), spec.training
    if p.use_vllm and importlib.util.find_spec("vllm") is None:
        raise SpecError(
            "grpo.use_vllm: vLLM is not installed on this trainer; install Hone's 'vllm' extra on "
            "a GPU machine, or turn use_vllm off to generate with transformers"
        )
    if t.max_batch_tokens is not None:
        raise SpecError("training.max_batch_tokens: GRPO batches by prompts (training.batch_size); remove it")
    if t.early_stopping_patience is not None:
        raise SpecError("training.early_stopping_patience: GRPO has no eval loss to stop on; remove it")
    if p.max_completion_length >= t.max_seq_length:
        raise SpecError(
            f"grpo.max_completion_length: {p.max_completion_length} leaves no room for a prompt in "
            f"training.max_seq_length {t.max_seq_length}; lower it or raise max_seq_length"
        )


def check_rows(spec: TrainSpec, tokenizer: Any) -> None:
    """DataError at the first row that cannot be trained on (a reward that cannot score it, a prompt
    too long); for every objective that samples answers and scores them (grpo, rejection_sampling)."""
    p, ds = spec.objective_params(), spec.dataset
    budget = (spec.training.max_seq_length, p.max_completion_length)
    for path in (ds.path, ds.eval_path):
        if path is None:
            continue
        found = grpo_data.problems(
            Path(path),
            ds.format,
            ds.task,
            p.rewards,
            tokenizer=tokenizer,
            budget=budget,
            max_problems=1,
            group=spec.objective,
        )
        if found:
            first = found[0]
            raise DataError(
                first.message,
                file=Path(path).name,
                line=first.number,
                field=first.field,
                unit=UNITS[ds.format],
            )


def check_rows_first(spec: TrainSpec) -> None:
    """``check_rows`` with the base model's tokenizer alone, before any weights load; a tokenizer that
    does not load here is left to ``load_base_model``, which says why."""
    from transformers import AutoTokenizer

    from trainers.examples import ensure_chat_template

    ref = spec.base_model
    try:
        tokenizer = AutoTokenizer.from_pretrained(ref.path or ref.hub_id, revision=ref.revision)
    except (OSError, ValueError, KeyError):
        return
    ensure_chat_template(tokenizer)
    check_rows(spec, tokenizer)


def build(spec: TrainSpec, train_rows: list[dict], eval_rows: list[dict]) -> Built:
    """Rows as TRL's conversational prompts with their ``answer`` column, which the rewards read."""
    from datasets import Dataset

    check_rows_first(spec)
    tokenizer, model, device = train.load_base_model(spec.base_model, methods.load_options(spec))
    task = spec.dataset.task
    train_tasks = [grpo_data.task_of(row, task) for row in train_rows]
    heldout = [grpo_data.task_of(row, task) for row in eval_rows[:MAX_HELDOUT]]
    needed = spec.training.batch_size * spec.training.gradient_accumulation_steps
    if len(train_tasks) < needed:
        raise DataError(
            f"{len(train_tasks)} training prompts, fewer than one step takes (training.batch_size "
            f"× gradient_accumulation_steps = {needed}); lower batch_size or add rows",
            file=Path(spec.dataset.path).name,
        )
    train_set = Dataset.from_list([{"prompt": t.prompt, "answer": t.answer} for t in train_tasks])
    return Built(
        tokenizer,
        model,
        device,
        train_set,
        eval_set=None,
        rows=(len(train_rows), len(eval_rows)),
        extra={"heldout": heldout, "params": params_of(spec), "reward_models": spec.reward_models},
    )


def reward_functions(p: GrpoParams, callback: GrpoCallback, models: rewards.RewardModels) -> list:
    """One function per chosen reward, as TRL calls them (named after the reward, so TRL logs
    ``rewards/<name>/mean``); each scores the batch at once (a reward model in batches) and keeps the
    scores for the live samples."""
    funcs = []
    for choice in p.rewards:
        reward, params = rewards.get(choice.name), choice.parsed()

        def score(
            prompts: list,
            completions: list,
            answer: list,
            _reward=reward,
            _params=params,
            _name=choice.name,
            **_: Any,
        ) -> list[float]:
            texts = [completion_text(c) for c in completions]
            asked = [rewards.prompt_text(p) for p in prompts]
            scores = _reward.scores(texts, list(answer), _params, models, asked)
            callback.recent.keep(_name, prompts, texts, answer, scores)
            return scores

        score.__name__ = choice.name
        funcs.append(score)
    return funcs


def completion_text(completion: Any) -> str:
    """A completion as text: TRL gives conversational prompts' completions as assistant messages."""
    if isinstance(completion, list):
        if len(completion) == 1 and isinstance(completion[0], dict):  # one assistant turn: the usual
            return completion[0].get("content") or ""
        return "".join(m.get("content") or "" for m in completion if isinstance(m, dict))
    return str(completion)


def grpo_trainer(
    spec: TrainSpec, built: Built, prepared: methods.Prepared, args: Any, callback: EventsCallback
) -> Any:
    from trl import GRPOConfig, GRPOTrainer

    p, t = params_of(spec), spec.training
    assert isinstance(callback, GrpoCallback)
    config = trl_config(
        GRPOConfig,
        args,
        per_device_train_batch_size=t.batch_size * p.num_generations,  # completions: prompts × group
        eval_strategy="no",
        do_eval=False,
        eval_on_start=False,  # held-out prompts: GrpoCallback's
        num_generations=p.num_generations,
        beta=p.beta,
        epsilon=p.epsilon,
        max_completion_length=p.max_completion_length,
        temperature=p.temperature,
        use_vllm=p.use_vllm,
        reward_weights=[r.weight for r in p.rewards],
        log_completions=False,
    )
    return GRPOTrainer(
        model=prepared.model,
        reward_funcs=reward_functions(p, callback, spec.reward_models),
        args=config,
        train_dataset=built.train_set,
        processing_class=built.tokenizer,
        callbacks=[callback, *prepared.callbacks],
    )


RECIPE = Recipe(
    build=build, trainer=grpo_trainer, save=save, check=check, metrics=GRPO_METRICS, callback=make_callback
)
