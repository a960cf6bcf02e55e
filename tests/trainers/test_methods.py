"""Every training method prepares the tiny Llama, trains a few steps with a finite loss, and saves an
artifact that loads back (adapters in plain peft) with the same logits. In-process: the trainer's
own building blocks, a handful of steps each, no subprocess per method."""

from __future__ import annotations

import hashlib
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM, Trainer

from tests.trainers.conftest import make_spec, write_jsonl
from trainers import methods, train
from trainers.cli import EXIT_INVALID, run_job
from trainers.events import EventEmitter
from trainers.examples import PadCollator, build_examples
from trainers.methods.base import MethodError
from trainers.objectives import sft
from trainers.packing import prepare_batches
from trainers.spec import SpecError, TrainSpec, parse_spec
from trainers.tiny import demo_instruction_rows

STEPS = 3
CUDA = torch.cuda.is_available()


@pytest.fixture(scope="module")
def small_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("data") / "small.jsonl", demo_instruction_rows(32))


@pytest.fixture(scope="module")
def examples(tiny_tokenizer) -> list[dict]:
    return build_examples(tiny_tokenizer, demo_instruction_rows(32), "instruction", 32)[0]


def spec_for(model_dir: Path, data: Path, out: Path, method: str, **groups: dict) -> TrainSpec:
    training = {"batch_size": 8, "max_seq_length": 32, "learning_rate": 1e-2, **groups.pop("training", {})}
    data = make_spec(model_dir, data, out, method=method, training=training, **groups)
    return parse_spec(data)


def train_briefly(spec: TrainSpec, model_dir: Path, tokenizer, examples: list[dict], model=None):
    """The trainer's own steps for a few optimizer steps: batches, method, Trainer, save."""
    model = model or AutoModelForCausalLM.from_pretrained(model_dir)
    batches = prepare_batches(examples, examples[:8], spec.training, tokenizer.pad_token_id)
    out = Path(spec.output_dir)
    steps = train.plan_steps(spec, len(batches.train))
    prepared = prepare(model, spec, tokenizer, examples, steps.total)
    args = train.training_arguments(spec, out, steps)
    args.max_steps, args.eval_strategy, args.save_strategy, args.eval_on_start = STEPS, "no", "no", False
    args.logging_steps = 1
    trainer = Trainer(
        model=prepared.model,
        args=args,
        data_collator=batches.collator,
        train_dataset=batches.train,
        callbacks=prepared.callbacks,
    )
    prepared.install(trainer)
    result = trainer.train()
    kind = methods.get(spec.method).artifact
    saved = train.save_adapter(prepared.model, tokenizer, out / kind, **prepared.save_kwargs)
    return prepared, trainer, result.training_loss, saved, batches


def prepare(model, spec: TrainSpec, tokenizer, examples: list[dict], total_steps: int):
    """The spec's method on ``model``, as the SFT objective prepares it (EVA sees padded batches)."""
    pad = PadCollator(tokenizer.pad_token_id)
    first = train.first_batches(examples, pad, spec.training.batch_size)
    return train.prepare_method(model, spec, "CAUSAL_LM", total_steps, first)


def logits(model, batch: dict) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits


ADALORA = {"init_r": 6, "target_r": 2, "warmup_share": 0.0, "final_share": 0.0}  # ranks move from step 1
CASES = {
    "lora": ("lora", {}),
    "lora-rslora-dora": ("lora", {"lora": {"use_rslora": True, "use_dora": True}}),
    "lora-gaussian": ("lora", {"lora": {"init": "gaussian"}}),
    "lora-pissa": ("lora", {"lora": {"init": "pissa"}}),
    "lora-olora": ("lora", {"lora": {"init": "olora"}}),
    "lora-eva": ("lora", {"lora": {"init": "eva", "r": 4}}),
    "loraplus": ("loraplus", {"method_params": {"lr_ratio": 16}}),
    "adalora": ("adalora", {"method_params": ADALORA}),
    "lokr": ("lokr", {}),
    "loha": ("loha", {}),
    "vera": ("vera", {"method_params": {"r": 16}}),
    "ia3": ("ia3", {}),
    "oft": ("oft", {"method_params": {"block_size": 8}}),
    "oft-shared-coft": ("oft", {"method_params": {"block_size": 24, "block_share": True, "coft": True}}),
    "boft": ("boft", {}),
    "fourierft": ("fourierft", {"method_params": {"n_frequency": 100}}),
    "miss": ("miss", {"method_params": {"r": 8}}),
    "ln_tuning": ("ln_tuning", {}),
    "mezo": ("mezo", {"training": {"learning_rate": 1e-3}}),
    "galore": ("galore", {"method_params": {"rank": 4, "update_proj_gap": 2}}),
    "prompt_tuning": ("prompt_tuning", {"method_params": {"num_virtual_tokens": 4}}),
    "prefix_tuning": ("prefix_tuning", {"method_params": {"num_virtual_tokens": 4}}),
    "full": ("full", {}),
    "freeze": ("freeze", {"method_params": {"trainable_layers": 1}}),
    "lisa": ("lisa", {"method_params": {"n_layers": 1, "period": 2}}),
    "spiel": ("spiel", {"method_params": {"density": 0.05, "update_interval": 1}}),
    "spiel-sm3": ("spiel", {"method_params": {"density": 0.05, "update_interval": 1, "regrow": "sm3"}}),
    "hft": ("hft", {"method_params": {"period": 1}}),
}


@dataclass
class Trained:
    spec: TrainSpec
    prepared: methods.Prepared
    trainer: Trainer
    loss: float
    saved: Path
    batch: dict  # four examples, collated as in training
    before: dict[str, torch.Tensor]  # the base model's weights before the method was applied


@pytest.fixture(scope="module")
def trained(tiny_model_dir, tiny_tokenizer, examples, small_data, tmp_path_factory):
    """Each case of CASES trained once for the whole module (a few optimizer steps, saved); the
    tests below look at the same run from different sides."""
    runs: dict[str, Trained] = {}

    def run(case: str) -> Trained:
        if case not in runs:
            method, groups = CASES[case]
            out = tmp_path_factory.mktemp(case) / "out"
            spec = spec_for(tiny_model_dir, small_data, out, method, **groups)
            model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
            before = _weights(model)
            prepared, trainer, loss, saved, batches = train_briefly(
                spec, tiny_model_dir, tiny_tokenizer, examples, model=model
            )
            runs[case] = Trained(spec, prepared, trainer, loss, saved, batches.collator(examples[:4]), before)
        return runs[case]

    return run


@pytest.fixture(scope="module")
def base_logits(tiny_model_dir):
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    return lambda batch: logits(base, batch)


@pytest.mark.parametrize("case", CASES)
def test_every_method_trains_and_its_artifact_loads_back_with_the_same_logits(
    case: str, trained, base_logits, tiny_model_dir: Path
) -> None:
    run = trained(case)
    assert math.isfinite(run.loss) and run.loss > 0
    trainable, total = methods.parameter_counts(run.prepared.model)
    merged = run.spec.method == "spiel"  # its deltas were folded into the weights when training ended
    assert (trainable == 0 if merged else trainable > 0) and trainable <= total
    if methods.get(run.spec.method).artifact == "adapter":
        from peft import PeftModel

        assert (run.saved / "adapter_model.safetensors").is_file()
        reloaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), run.saved)
    else:
        assert (run.saved / "model.safetensors").is_file() and (run.saved / "tokenizer.json").is_file()
        reloaded = AutoModelForCausalLM.from_pretrained(run.saved)
    trained_logits = logits(run.prepared.model, run.batch)
    base = base_logits(run.batch)
    # prompt tuning's logits start with its virtual tokens: compare the real tokens'
    assert not torch.allclose(trained_logits[:, -base.shape[1] :], base)
    torch.testing.assert_close(logits(reloaded, run.batch), trained_logits, atol=1e-4, rtol=1e-4)


def _weights(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def _changed(before: dict, model) -> set[str]:
    return {n for n, p in model.named_parameters() if not torch.equal(before[n], p.detach())}


def test_lisa_trains_only_the_drawn_blocks_with_embeddings_and_head(
    tiny_model_dir, tiny_tokenizer, examples, small_data, tmp_path
) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    before = _weights(model)
    params = {"n_layers": 1, "period": 100, "train_embeddings": False}
    spec = spec_for(tiny_model_dir, small_data, tmp_path / "out", "lisa", method_params=params)
    prepared, *_ = train_briefly(spec, tiny_model_dir, tiny_tokenizer, examples, model=model)
    (active,) = prepared.callbacks[0].active
    changed = _changed(before, model)
    assert any(n.startswith(f"model.layers.{active}.") for n in changed)
    assert not any(n.startswith(f"model.layers.{1 - active}.") for n in changed)
    assert "lm_head.weight" in changed and "model.embed_tokens.weight" not in changed


def test_freeze_trains_the_last_blocks_only(trained):
    run = trained("freeze")  # trainable_layers 1
    changed = _changed(run.before, run.prepared.model)
    assert changed and all(n.startswith("model.layers.1.") for n in changed)


def test_loraplus_gives_the_b_matrices_a_higher_learning_rate(trained) -> None:
    run = trained("loraplus")  # lr_ratio 16
    names = {id(p): n for n, p in run.prepared.model.named_parameters()}
    rates = {
        ("lora_B" in names[id(p)]): group["initial_lr"]
        for group in run.trainer.optimizer.param_groups
        for p in group["params"]
    }
    assert rates[True] == pytest.approx(16 * rates[False]) and rates[False] == pytest.approx(1e-2)


def test_adalora_reallocates_ranks_while_it_trains(trained):
    run = trained("adalora")  # init_r 6, target_r 2, no warm-up or final phase
    config = json.loads((run.saved / "adapter_config.json").read_text())
    ranks = [sum(mask) for mask in config["rank_pattern"].values()]  # set by update_and_allocate
    assert ranks and min(ranks) < 6 and config["total_step"] == 12


@pytest.fixture(scope="module")
def biased_model_dir(tiny_model_dir: Path, tmp_path_factory) -> Path:
    """The tiny Llama with biases on its attention and MLP layers (as Qwen-style models have)."""
    config = LlamaConfig.from_pretrained(tiny_model_dir)
    config.attention_bias = config.mlp_bias = True
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("models") / "tiny-biased"
    LlamaForCausalLM(config).save_pretrained(out)
    return out


def test_bitfit_trains_only_biases(
    biased_model_dir, tiny_model_dir, tiny_tokenizer, examples, small_data, tmp_path
):
    model = AutoModelForCausalLM.from_pretrained(biased_model_dir)
    before = _weights(model)
    spec = spec_for(biased_model_dir, small_data, tmp_path / "out", "bitfit")
    _prepared, _trainer, loss, saved, _ = train_briefly(
        spec, biased_model_dir, tiny_tokenizer, examples, model=model
    )
    changed = _changed(before, model)
    assert math.isfinite(loss) and changed and all(n.endswith(".bias") for n in changed)
    assert (saved / "model.safetensors").is_file()


def test_bitfit_refuses_a_model_without_biases(tiny_model_dir, small_data, tmp_path):
    spec = spec_for(tiny_model_dir, small_data, tmp_path / "out", "bitfit")
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    with pytest.raises(
        MethodError, match="BitFit trains only bias terms, and this LlamaForCausalLM has none"
    ):
        methods.apply_method(model, spec, methods.Context())


@pytest.mark.skipif(CUDA, reason="checks the refusal on a machine without a CUDA GPU")
def test_qlora_is_refused_without_cuda_before_anything_loads(tiny_model_dir, small_data, tmp_path):
    spec = spec_for(tiny_model_dir, small_data, tmp_path / "out", "qlora")
    with pytest.raises(MethodError, match="QLoRA needs a CUDA GPU; this machine has none — use LoRA"):
        methods.load_options(spec)
    out = io.StringIO()
    assert run_job(spec, EventEmitter(out)) == EXIT_INVALID  # exit 2: never retried
    finished = [json.loads(line) for line in out.getvalue().splitlines()][-1]
    assert finished["status"] == "failed" and "QLoRA needs a CUDA GPU" in finished["error"]


@pytest.mark.skipif(not CUDA, reason="QLoRA needs a CUDA GPU (and bitsandbytes); this machine has none")
def test_qlora_trains_on_a_4bit_base(tiny_model_dir, tiny_tokenizer, examples, small_data, tmp_path):
    pytest.importorskip("bitsandbytes", reason="QLoRA needs the bitsandbytes package")
    spec = spec_for(tiny_model_dir, small_data, tmp_path / "out", "qlora")
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, **methods.load_options(spec))
    _prepared, _trainer, loss, saved, _ = train_briefly(
        spec, tiny_model_dir, tiny_tokenizer, examples, model=model
    )
    assert math.isfinite(loss) and (saved / "adapter_model.safetensors").is_file()


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        ({"method": "nope"}, "method: unknown method 'nope'; known methods: lora, loraplus"),
        (
            {"method": "loraplus", "method_params": {"lr_ratio": 0.5}},
            "method_params: lr_ratio: Input should be greater than or equal to 1",
        ),
        ({"method": "lisa", "method_params": {"n_layer": 2}}, "n_layer: Extra inputs are not permitted"),
        ({"method": "full", "method_params": {"r": 2}}, "full takes no method_params; remove r"),
        ({"lora": {"init": "svd"}}, "lora.init: Input should be 'default', 'gaussian', 'pissa'"),
    ],
)
def test_a_bad_method_or_parameter_is_named(groups, message, tiny_model_dir, small_data, tmp_path):
    with pytest.raises(SpecError) as caught:
        parse_spec(make_spec(tiny_model_dir, small_data, tmp_path, **groups))
    assert message in str(caught.value)


def test_prompt_tuning_cannot_train_a_classifier(tiny_model_dir, small_data, tmp_path):
    data = make_spec(tiny_model_dir, small_data, tmp_path, method="prompt_tuning", objective="classification")
    data["dataset"]["task"] = "classification"
    with pytest.raises(SpecError, match="Prompt tuning does not train the classification objective"):
        parse_spec(data)


def test_old_specs_still_validate_with_lora_defaults(tiny_model_dir, small_data, tmp_path):
    spec = parse_spec(make_spec(tiny_model_dir, small_data, tmp_path))
    assert (spec.method, spec.lora.r, spec.lora.init, spec.method_params) == ("lora", 16, "default", {})
    defaults = parse_spec(make_spec(tiny_model_dir, small_data, tmp_path, method="lisa"))
    assert defaults.method_params == {
        "n_layers": 2,
        "period": 20,
        "train_embeddings": True,
        "train_head": True,
    }


def held_out_loss_before_and_after(spec, model_dir, tokenizer, tmp_path) -> tuple:
    """Train ``spec``'s method on the toy task with the Trainer, no evaluation or saving in between:
    (the model, the Trainer, held-out loss before, held-out loss after)."""
    rows, eval_rows = train.load_datasets(spec)
    train_set, eval_set = sft.tokenize_splits(tokenizer, rows, eval_rows, "instruction", 48)
    batches = prepare_batches(train_set, eval_set, spec.training, tokenizer.pad_token_id)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    steps = train.plan_steps(spec, len(batches.train))
    prepared = prepare(model, spec, tokenizer, train_set, steps.total)
    args = train.training_arguments(spec, tmp_path / "out", steps)
    args.eval_strategy, args.save_strategy, args.eval_on_start = "no", "no", False
    trainer = Trainer(
        model=prepared.model,
        args=args,
        data_collator=batches.collator,
        train_dataset=batches.train,
        eval_dataset=batches.eval,
        callbacks=prepared.callbacks,  # SpIEL's drop-and-grow, HFT's draws
    )
    prepared.install(trainer)
    before = trainer.evaluate()["eval_loss"]
    trainer.train()
    return model, trainer, before, trainer.evaluate()["eval_loss"]


@pytest.mark.parametrize(
    ("method", "learning_rate", "method_params"),
    [
        ("lora", 3e-3, {}),
        ("full", 1e-3, {}),
        ("prompt_tuning", 3e-2, {"num_virtual_tokens": 8}),
        ("oft", 1e-2, {"block_size": 16}),
        ("boft", 1e-2, {}),
        ("fourierft", 3e-2, {"n_frequency": 500}),
        ("miss", 3e-3, {"r": 16}),
        ("ln_tuning", 3e-2, {}),
        ("galore", 3e-3, {"rank": 8, "update_proj_gap": 10}),
    ],
)
def test_the_toy_task_is_learnt(
    method, learning_rate, method_params, tiny_model_dir, tiny_tokenizer, demo_jsonl, tmp_path
):
    """Two epochs of the learnable toy task: the held-out loss falls for an adapter, the whole
    model and a prompt-based method alike."""
    training = {"batch_size": 16, "max_seq_length": 48, "learning_rate": learning_rate, "epochs": 2}
    spec = spec_for(
        tiny_model_dir, demo_jsonl, tmp_path / "out", method, training=training, method_params=method_params
    )
    _, _, before, after = held_out_loss_before_and_after(spec, tiny_model_dir, tiny_tokenizer, tmp_path)
    assert after < 0.9 * before, (before, after)


@pytest.mark.parametrize("case", [c for c in CASES if not c.startswith("lora-")] + ["lora-rslora-dora"])
def test_the_estimate_counts_what_each_method_trains(case, tiny_model_dir, small_data, tmp_path):
    from trainers import estimate, trainable

    method, groups = CASES[case]
    spec = spec_for(tiny_model_dir, small_data, tmp_path / "out", method, **groups)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    ctx = methods.Context(model_source=str(tiny_model_dir), work_dir=tmp_path, total_steps=10)
    prepared = methods.apply_method(model, spec, ctx)
    for callback in prepared.callbacks:  # LISA freezes all but its drawn blocks when training begins
        if hasattr(callback, "switch"):
            callback.switch(0)
    shape = estimate.shape_from_config(json.loads((tiny_model_dir / "config.json").read_text()))
    params = {"lora": spec.lora.model_dump(), "method_params": spec.method_params}
    assert (
        trainable.trainable_parameter_count(shape, method, params)
        == methods.parameter_counts(prepared.model)[0]
    )


@pytest.mark.parametrize("method", ["freeze", "loraplus"])
def test_the_artifact_and_its_card_name_the_method(method, trained):
    run = trained(method)  # freeze: trainable_layers 1; loraplus: lr_ratio 16, lora r 16
    saved, spec = run.saved, run.spec
    train.write_model_card(saved, spec, 24, 8, SimpleNamespace(last_train_loss=1.5, last_eval_loss=1.6))
    out = io.StringIO()
    kind = methods.get(method).artifact
    train.emit_artifact(EventEmitter(out), saved, kind)
    event = json.loads(out.getvalue().splitlines()[-1])
    weights = saved / ("model.safetensors" if kind == "model" else "adapter_model.safetensors")
    assert (event["artifact_kind"], event["name"]) == (kind, kind) and saved.name == kind
    assert event["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    card = (saved / "README.md").read_text()
    title = methods.get(method).title
    assert f"# {title} {kind} for tiny-llama" in card and f"- Method: {method} ({title}" in card
    if method == "freeze":
        assert "- trainable_layers: 1" in card and "AutoModelForCausalLM.from_pretrained" in card
    else:
        assert "- lr_ratio: 16.0" in card and "- r: 16" in card and "PeftModel.from_pretrained" in card
