"""The guided job's review in plain words: what a run of this objective and method will do."""

from __future__ import annotations

from jobs.guided.presets import Plan
from jobs.models import Dataset, ModelAsset
from trainers import catalogue


def _count(n: int) -> str:
    return f"{n:,}"


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def _times(epochs: float) -> str:
    return "once" if epochs == 1 else f"{epochs:g} times"


def method_phrase(method: str, params: dict, plan: Plan) -> str:
    """What trains, e.g. "a LoRA adapter (rank 8, alpha 16, 17,408 new parameters, 11.76% of the model)"."""
    share = f", {plan.trainable_share:.2f}% of the model" if plan.trainable_share else ""
    new = f", {_count(plan.trainable)} new parameters{share}" if plan.trainable else ""
    if method in ("lora", "loraplus", "qlora"):
        lora = params["lora"]
        base = {"lora": "a LoRA adapter", "loraplus": "a LoRA+ adapter", "qlora": "a LoRA adapter"}[method]
        where = " on a 4-bit copy of the model (QLoRA)" if method == "qlora" else ""
        return f"{base}{where} (rank {lora['r']}, alpha {lora['alpha']}{new})"
    if method == "full":
        weights = f" ({_count(plan.parameters)} parameters)" if plan.parameters else ""
        return f"every weight of the model{weights}"
    entry = catalogue.get(method)
    return f"{entry.title}: {entry.description[:1].lower()}{entry.description[1:].rstrip('.')}"


def objective_sentence(
    objective: str, model: ModelAsset, params: dict, phrase: str, labels: list[str]
) -> str:
    """The main step: what the model learns, from what, by training what."""
    name = model.name
    group = params.get(objective) or {}
    if objective == "classification":
        shown = ", ".join(labels[:12]) + (f" and {len(labels) - 12} more" if len(labels) > 12 else "")
        if phrase.startswith("every weight"):
            weights = phrase.removeprefix("every weight of the model")
            return (
                f"Hone adds a classifier head to {name} and trains it together with every weight of the "
                f"model{weights} to predict {len(labels)} labels: {shown}."
            )
        return (
            f"Hone trains a classifier head and {phrase} on {name} to predict {len(labels)} labels: {shown}."
        )
    if objective == "pretrain":
        return (
            f"Hone continues the pre-training of {name} on your text: it learns to predict every token, "
            f"training {phrase}. Short rows are packed together so no compute goes to padding."
        )
    if objective == "dpo":
        return (
            f"Hone teaches {name} to prefer each chosen answer over the rejected one (DPO), measured against "
            f"a frozen copy of the model so it does not drift too far (beta {group.get('beta', 0.1):g}; "
            f"higher stays closer). It trains {phrase}."
        )
    if objective == "orpo":
        return (
            f"Hone teaches {name} to write the chosen answers while making the rejected ones less likely "
            f"(ORPO, odds-ratio weight {group.get('beta', 0.1):g}); no reference model. It trains {phrase}."
        )
    if objective == "simpo":
        return (
            f"Hone teaches {name} to give the chosen answers a higher length-normalised likelihood than the "
            f"rejected ones by a margin (SimPO, beta {group.get('beta', 2.0):g}, margin "
            f"{group.get('simpo_gamma', 0.5):g}); no reference model. It trains {phrase}."
        )
    if objective == "kto":
        return (
            f"Hone treats every chosen answer as a good example and every rejected one as a bad one (KTO, "
            f"beta {group.get('beta', 0.1):g}), against a frozen copy of the model. It trains {phrase}."
        )
    frozen = "" if phrase.startswith("every weight") else f"keeps the weights of {name} frozen and "
    return (
        f"Hone {frozen}trains {phrase} on {name}, to write the answers of your examples "
        "(the loss is computed on them)."
    )


def run_sentence(params: dict, plan: Plan) -> str:
    t = params["training"]
    per_update = t["batch_size"] * t["gradient_accumulation_steps"]
    accumulation = (
        f" (one update every {t['gradient_accumulation_steps']} steps: {per_update} rows per update)"
        if t["gradient_accumulation_steps"] > 1
        else ""
    )
    return (
        f"It reads the training rows {_times(t['epochs'])}: {plan.steps} step{_s(plan.steps)} "
        f"of {t['batch_size']} row{_s(t['batch_size'])}{accumulation}, "
        f"at learning rate {t['learning_rate']:g}."
    )


def eval_sentence(objective: str, params: dict, plan: Plan) -> str:
    every = f"About every {plan.eval_every} step{_s(plan.eval_every)}"
    if objective == "classification":
        measured = "it measures accuracy and macro-F1 on the held-out rows and shows a few predictions"
    elif objective in ("dpo", "orpo", "simpo", "kto"):
        measured = (
            "it measures on the held-out pairs how often the chosen answer wins (reward accuracy) "
            "and writes a sample answer"
        )
    else:
        measured = "it measures the loss on the held-out rows and writes a sample answer"
    n = params["training"]["checkpoints_per_run"]
    return (
        f"{every} {measured}, so you can watch it learn. "
        f"It saves a checkpoint {n} time{_s(n)}, to resume from if interrupted."
    )


def result_sentence(objective: str, method: str, model: ModelAsset) -> str:
    artifact = catalogue.get(method).artifact
    what = "an adapter" if artifact == "adapter" else "a whole model"
    if objective == "classification":
        return (
            f"At the end you get a classifier ({what}) to download; the playground shows the label it "
            f"picks for any text, with its probabilities."
        )
    return (
        f"At the end you get {what} to download, try in the playground side by side with {model.name}, "
        "and evaluate against it."
    )


def split_sentence(plan: Plan, dataset: Dataset) -> str:
    return (
        f"Hone sets aside {plan.eval_rows} of the {plan.rows} rows of “{dataset.name}” to measure "
        f"progress on rows the model has not trained on, and trains on the other {plan.train_rows}."
    )


def plan_sentences(
    *,
    objective: str,
    method: str,
    params: dict,
    plan: Plan,
    model: ModelAsset,
    dataset: Dataset,
    labels: list[str],
) -> list[str]:
    phrase = method_phrase(method, params, plan)
    return [
        split_sentence(plan, dataset),
        objective_sentence(objective, model, params, phrase, labels),
        run_sentence(params, plan),
        eval_sentence(objective, params, plan),
        result_sentence(objective, method, model),
    ]
