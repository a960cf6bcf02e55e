"""SpIEL's and HFT's own behaviour: the sparse layer's gradient is the dense one at its indices, drop-and-
grow keeps the budget and resets what it grows, the saved whole model is plain transformers (and the
delta, when asked, is what was merged); HFT trains half of each block, a new half each round, with
AdamW's state for that half only. Both learn the toy task through the Trainer and run end to end
through ``run_job``. (Train / save / reload with the same logits and the trainable counts of every
method, these two included: tests/trainers/test_methods.py.)"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from transformers import AutoModelForCausalLM

from tests.trainers.conftest import write_jsonl
from tests.trainers.test_methods import _weights, held_out_loss_before_and_after, logits, spec_for
from trainers import methods
from trainers.cli import run_job
from trainers.events import EventEmitter
from trainers.methods import hft, sparse_delta
from trainers.methods.base import MethodError
from trainers.tiny import demo_instruction_rows


@pytest.fixture(scope="module")
def small_data(tmp_path_factory: pytest.TempPathFactory):
    return write_jsonl(tmp_path_factory.mktemp("data") / "small.jsonl", demo_instruction_rows(32))


def _sparse_linear(regrow: str = "gradient") -> torch.nn.Linear:
    torch.manual_seed(0)
    layer = torch.nn.Linear(12, 10)
    sparse_delta.make_sparse(layer, 0.2, regrow, torch.Generator().manual_seed(1))
    with torch.no_grad():
        layer.sparse_values.normal_()
    return layer


@pytest.mark.parametrize("regrow", ["gradient", "sm3"])
def test_a_sparse_layer_computes_and_differentiates_as_the_dense_weight_plus_delta(regrow) -> None:
    layer = _sparse_linear(regrow)
    assert layer.sparse_values.numel() == 24 and layer.sparse_indices.unique().numel() == 24
    assert not layer.weight.requires_grad and not layer.bias.requires_grad
    x = torch.randn(3, 5, 12, requires_grad=True)
    dense = layer.weight.detach().clone().requires_grad_(True)
    delta = torch.zeros(120).index_add(0, layer.sparse_indices, layer.sparse_values.detach()).view(10, 12)
    x_ref = x.detach().clone().requires_grad_(True)
    expected = torch.nn.functional.linear(x_ref, dense + delta, layer.bias)
    out = layer(x)
    torch.testing.assert_close(out, expected)
    out.square().sum().backward()
    expected.square().sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad)
    torch.testing.assert_close(layer.sparse_values.grad, dense.grad.flatten()[layer.sparse_indices])
    if regrow == "gradient":  # the candidates' gradients were accumulated
        torch.testing.assert_close(layer.sparse_scores, dense.grad.flatten()[layer.sparse_candidates])
    else:  # SM3's cover: every squared gradient is at most min(row, column)
        cover = torch.minimum(layer.sparse_rows[:, None], layer.sparse_cols[None, :])
        assert torch.all(dense.grad.square() <= cover + 1e-6) and cover.max() > 0


@pytest.mark.parametrize("regrow", ["gradient", "sm3"])
def test_drop_and_grow_keeps_the_budget_and_grows_fresh_entries(regrow) -> None:
    layer = _sparse_linear(regrow)
    model = torch.nn.Sequential(torch.nn.ModuleList([layer]))
    optimizer = torch.optim.AdamW([layer.sparse_values], lr=0.1)
    layer(torch.randn(4, 12)).sum().backward()
    optimizer.step()
    before_indices = layer.sparse_indices.clone()
    before_values = layer.sparse_values.detach().clone()
    callback = sparse_delta.DropAndGrow(
        model, interval=1, drop_fraction=0.5, total_steps=100, seed=0, delta_dir=None
    )
    callback.update(0, optimizer)  # share 0.5 at the start of the cosine: 12 of 24 entries move
    grown = layer.sparse_values.detach() == 0  # the kept ones hold their (non-zero) trained deltas
    assert int(grown.sum()) == 12 and layer.sparse_indices.unique().numel() == 24
    state = optimizer.state[layer.sparse_values]
    assert torch.all(state["exp_avg"][grown] == 0) and torch.all(state["exp_avg_sq"][grown] == 0)
    assert torch.all(state["exp_avg_sq"][~grown] > 0)
    largest = before_values.abs().topk(12).indices
    assert torch.isin(before_indices[largest], layer.sparse_indices[~grown]).all()  # the largest stay
    if regrow == "gradient":  # grown from candidates outside the old entries; fresh candidates drawn
        assert not torch.isin(layer.sparse_indices[grown], before_indices).any()
        assert not torch.isin(layer.sparse_candidates, layer.sparse_indices).any()
        assert torch.all(layer.sparse_scores == 0)
    assert callback.share(100) == pytest.approx(0.0) and callback.share(50) == pytest.approx(0.25)


def test_spiel_saves_a_plain_model_and_the_delta_it_merged(
    tiny_model_dir, tiny_tokenizer, demo_jsonl, tmp_path
) -> None:
    """Through the trainer's own run: the whole model has the base's tensors and names, differs from it
    only at the delta's entries, and gives the trained logits; the delta holds the trained values."""
    training = {"batch_size": 16, "max_seq_length": 48, "learning_rate": 1e-2, "epochs": 1}
    own = {"density": 0.05, "update_interval": 2, "save_delta": True}
    spec = spec_for(
        tiny_model_dir, demo_jsonl, tmp_path / "out", "spiel", training=training, method_params=own
    )
    out = io.StringIO()
    assert run_job(spec, EventEmitter(out)) == 0, out.getvalue()[-2000:]
    saved = tmp_path / "out" / "model"
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    reloaded = AutoModelForCausalLM.from_pretrained(saved)
    before, after = _weights(base), _weights(reloaded)
    assert before.keys() == after.keys()
    with safe_open(saved / sparse_delta.DELTA_FILE, "pt") as delta:
        stored = delta.keys()  # safetensors' handle, not a dict
        names = {key.rsplit(".", 2)[0] for key in stored}
        assert names == {n.removesuffix(".weight") for n in before if ".layers." in n and "proj" in n}
        for name in names:
            indices, values = (
                delta.get_tensor(f"{name}.weight.indices"),
                delta.get_tensor(f"{name}.weight.values"),
            )
            change = (after[f"{name}.weight"] - before[f"{name}.weight"]).flatten()
            torch.testing.assert_close(change[indices], values, atol=1e-6, rtol=1e-5)
            outside = torch.ones_like(change, dtype=torch.bool)
            outside[indices] = False
            assert torch.all(change[outside] == 0) and values.abs().max() > 0
    unchanged = [n for n in before if n not in {f"{m}.weight" for m in names}]
    assert all(torch.equal(before[n], after[n]) for n in unchanged)
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert events[-1]["status"] == "succeeded"
    assert any(e.get("artifact_kind") == "model" for e in events)


@pytest.mark.parametrize(
    ("method", "learning_rate", "method_params"),
    [
        ("spiel", 1e-2, {"density": 0.05, "update_interval": 10}),
        ("spiel", 1e-2, {"density": 0.05, "update_interval": 10, "regrow": "sm3"}),
        ("hft", 1e-3, {}),
    ],
)
def test_the_toy_task_is_learnt(
    method, learning_rate, method_params, tiny_model_dir, tiny_tokenizer, demo_jsonl, tmp_path
):
    training = {"batch_size": 16, "max_seq_length": 48, "learning_rate": learning_rate, "epochs": 2}
    spec = spec_for(
        tiny_model_dir, demo_jsonl, tmp_path / "out", method, training=training, method_params=method_params
    )
    model, _trainer, before, after = held_out_loss_before_and_after(
        spec, tiny_model_dir, tiny_tokenizer, tmp_path
    )
    assert after < 0.9 * before, (before, after)
    assert not sparse_delta.sparse_layers(model)  # SpIEL merged its deltas when training ended


def test_spiel_refuses_target_modules_the_model_lacks(tiny_model_dir, small_data, tmp_path) -> None:
    spec = spec_for(
        tiny_model_dir, small_data, tmp_path / "out", "spiel", method_params={"target_modules": ["wq"]}
    )
    with pytest.raises(MethodError, match="method_params.target_modules: no linear layer"):
        methods.apply_method(AutoModelForCausalLM.from_pretrained(tiny_model_dir), spec, methods.Context())


def _trainable_names(model) -> set[str]:
    return {n for n, p in model.named_parameters() if p.requires_grad}


def test_hft_trains_half_of_every_block_and_draws_again_each_round(tiny_model_dir) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    spec_params = methods.get("hft").validate_params({"period": 5})
    prepared = methods.get("hft").apply(model, spec_params, methods.Context(seed=3))
    (callback,) = prepared.callbacks
    draws = []
    for round_ in range(4):
        callback.switch(round_)
        names = _trainable_names(model)
        draws.append(names)
        for block in range(2):
            mine = {
                n.removeprefix(f"model.layers.{block}.")
                for n in names
                if n.startswith(f"model.layers.{block}.")
            }
            assert len([n for n in mine if n.startswith("self_attn.")]) == 2
            assert len([n for n in mine if n.endswith("layernorm.weight")]) == 1
        mlp = [n for n in names if ".mlp." in n]
        assert len(mlp) == 3  # 2 layers: one block takes 2 of its 3 MLP matrices, the other 1
        assert not any(n.startswith(("model.embed_tokens", "lm_head", "model.norm")) for n in names)
    assert len({frozenset(d) for d in draws}) > 1


def test_hft_keeps_adamw_state_for_the_trained_half_only(
    tiny_model_dir, tiny_tokenizer, demo_jsonl, tmp_path
) -> None:
    training = {"batch_size": 16, "max_seq_length": 48, "learning_rate": 1e-3, "epochs": 1}
    spec = spec_for(tiny_model_dir, demo_jsonl, tmp_path / "out", "hft", training=training,
                    method_params={"period": 3})  # fmt: skip
    model, trainer, _before, _after = held_out_loss_before_and_after(
        spec, tiny_model_dir, tiny_tokenizer, tmp_path
    )
    held = (
        {id(p) for p in trainer.optimizer.optimizer.state}
        if hasattr(trainer.optimizer, "optimizer")
        else {id(p) for p in trainer.optimizer.state}
    )
    trained = {id(p) for p in model.parameters() if p.requires_grad}
    assert held and held <= trained
    total = sum(p.numel() for p in model.parameters())
    half = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert half < total / 2  # half of the blocks; embeddings and head frozen


def test_hft_categories_follow_the_block_structure(tiny_model_dir) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    names = {id(m): n for n, m in model.named_modules()}
    found = [[names[id(m)].rsplit(".", 1)[-1] for m in c] for c in hft.categories(model.model.layers[0])]
    assert found == [
        ["q_proj", "k_proj", "v_proj", "o_proj"],
        ["gate_proj", "up_proj", "down_proj"],
        ["input_layernorm", "post_attention_layernorm"],
    ]


def test_the_trained_logits_survive_the_merge(tiny_model_dir, tiny_tokenizer, small_data, tmp_path) -> None:
    """The sparse layers' forward and the merged plain layers' give the same logits."""
    from trainers.examples import PadCollator, build_examples

    spec = spec_for(tiny_model_dir, small_data, tmp_path / "out", "spiel", method_params={"density": 0.1})
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    prepared = methods.apply_method(model, spec, methods.Context())
    for _name, layer in sparse_delta.sparse_layers(model):
        with torch.no_grad():
            layer.sparse_values.normal_(std=0.05)
    examples = build_examples(tiny_tokenizer, demo_instruction_rows(4), "instruction", 32)[0]
    batch = PadCollator(tiny_tokenizer.pad_token_id)(examples)
    sparse = logits(prepared.model, batch)
    sparse_delta.merge(model)
    assert not sparse_delta.sparse_layers(model)
    torch.testing.assert_close(logits(model, batch), sparse)


@pytest.mark.parametrize("method", ["spiel", "hft"])
@pytest.mark.parametrize("objective", ["classification", "pretrain", "dpo"])
def test_both_train_the_other_objectives_into_a_plain_model(method, objective, tiny_model_dir, tmp_path):
    """A classifier (whose new head trains whole), continued pre-training and DPO (TRL's trainer, with
    its frozen reference copy), end to end."""
    from tests.trainers.objectives_data import (
        objective_spec,
        of_kind,
        preference_rows,
        run_in_process,
        sentiment_rows,
        text_rows,
    )

    rows, task = {
        "classification": (sentiment_rows(40), "classification"),
        "pretrain": (text_rows(40), "text"),
        "dpo": (preference_rows(40), "preference"),
    }[objective]
    own = {"update_interval": 2, "density": 0.05} if method == "spiel" else {"period": 2}
    spec = objective_spec(tiny_model_dir, tmp_path, rows, task, objective, method=method, method_params=own)
    events = run_in_process(spec)
    (artifact,) = [e for e in of_kind(events, "artifact") if e["artifact_kind"] == "model"]
    config = json.loads((Path(artifact["location"]) / "config.json").read_text())
    kind = "LlamaForSequenceClassification" if objective == "classification" else "LlamaForCausalLM"
    assert config["architectures"] == [kind]
    from safetensors import safe_open

    with safe_open(Path(artifact["location"]) / "model.safetensors", "pt") as saved:
        assert not [k for k in saved.keys() if "sparse" in k]  # noqa: SIM118 (a safetensors handle)


def test_a_sparse_layer_runs_on_a_bf16_weight_under_autocast() -> None:
    """As on a GPU: the frozen weight in bf16, the deltas and their gradient in fp32."""
    torch.manual_seed(0)
    layer = torch.nn.Linear(16, 8).to(torch.bfloat16)
    sparse_delta.make_sparse(layer, 0.25, "sm3", torch.Generator().manual_seed(0))
    x = torch.randn(2, 3, 16, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = layer(x)
    y.float().sum().backward()
    assert y.dtype == torch.bfloat16 and x.grad.dtype == torch.float32
    assert layer.sparse_values.grad.dtype == torch.float32 and layer.sparse_values.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("method", "own"),
    [("spiel", {"density": 0.05, "update_interval": 3}), ("hft", {"period": 3})],
)
def test_a_resumed_run_continues_exactly_where_it_stopped(
    method, own, tmp_path, tiny_model_dir, demo_jsonl, monkeypatch
) -> None:
    """The checkpoint holds SpIEL's indices, deltas and statistics (HFT's draw is seeded by its round):
    every loss after the resume is the uninterrupted run's."""
    from tests.trainers.conftest import make_spec
    from tests.trainers.test_checkpoints import FAST, Stopped, _metrics, _stop_at, _train

    training = FAST | {"epochs": 1, "save_every_steps": 100, "learning_rate": 1e-2}
    groups = {"method": method, "method_params": own, "training": training}
    whole = _train(make_spec(tiny_model_dir, demo_jsonl, tmp_path / "whole", **groups))
    planned = next(e for e in whole if e["kind"] == "started")["total_steps"]
    stop = planned // 2 + 1  # between two updates / draws
    _stop_at(monkeypatch, stop)
    spec = make_spec(tiny_model_dir, demo_jsonl, tmp_path / "split", **groups)
    with pytest.raises(Stopped):
        _train(spec)
    monkeypatch.undo()
    checkpoint = tmp_path / "split" / "checkpoints" / f"checkpoint-{stop}"
    resumed = _train(spec | {"attempt": 2, "resume_from": str(checkpoint)})
    whole_loss, resumed_loss = _metrics(whole, "train"), _metrics(resumed, "train")
    assert sorted(resumed_loss) == list(range(stop + 1, planned + 1))
    for step, value in resumed_loss.items():
        assert value == pytest.approx(whole_loss[step], rel=1e-4), step
