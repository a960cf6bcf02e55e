"""The memory-frugal methods' own behaviour: MeZO trains with forward passes only, GaLore keeps AdamW's
state projected (as the estimate counts it), both run through the trainer's own ``run_job``; a BOFT
block that does not fit a layer is refused naming its field. (Every method's train / save / reload and
parameter count: tests/trainers/test_methods.py.)"""

from __future__ import annotations

import io
import json

import pytest
import torch
from transformers import AutoModelForCausalLM

from tests.trainers.conftest import write_jsonl
from tests.trainers.test_methods import held_out_loss_before_and_after, spec_for, train_briefly
from trainers import methods
from trainers.cli import run_job
from trainers.events import EventEmitter
from trainers.examples import build_examples
from trainers.methods.base import MethodError
from trainers.tiny import demo_instruction_rows


@pytest.fixture(scope="module")
def small_data(tmp_path_factory: pytest.TempPathFactory):
    return write_jsonl(tmp_path_factory.mktemp("data") / "small.jsonl", demo_instruction_rows(32))


@pytest.fixture(scope="module")
def examples(tiny_tokenizer) -> list[dict]:
    return build_examples(tiny_tokenizer, demo_instruction_rows(32), "instruction", 32)[0]


def test_mezo_learns_the_toy_task_with_forward_passes_only(
    tiny_model_dir, tiny_tokenizer, demo_jsonl, tmp_path
) -> None:
    """Zeroth-order SGD: the held-out loss falls while no weight ever has a gradient and the
    Trainer's optimizer holds no state (120 steps of two forward passes each)."""
    training = {"batch_size": 16, "max_seq_length": 48, "learning_rate": 1e-3, "epochs": 10}
    spec = spec_for(tiny_model_dir, demo_jsonl, tmp_path / "out", "mezo", training=training)
    model, trainer, before, after = held_out_loss_before_and_after(
        spec, tiny_model_dir, tiny_tokenizer, tmp_path
    )
    assert after < 0.9 * before, (before, after)
    assert all(p.grad is None for p in model.parameters()) and not trainer.optimizer.state


def test_mezo_perturbations_cancel_exactly_when_the_loss_does_not_change() -> None:
    """+eps·z, −2eps·z, +eps·z regenerate the same z from the seed: the weights come back (to float
    rounding) and a zero projected gradient leaves them where they were."""
    from trainers.methods.mezo import _perturb, _update

    torch.manual_seed(0)
    params = [torch.randn(8, 4), torch.randn(4)]
    start = [p.clone() for p in params]
    for scale in (1e-3, -2e-3, 1e-3):
        _perturb(params, 1234, scale)
    _update(params, 1234, 0.0, 0.0)
    for p, q in zip(params, start, strict=True):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=0)
    _update(params, 1234, 0.5, 0.0)
    _perturb(params, 1234, 0.5)  # the update moved by −0.5·z: adding +0.5·z undoes it
    for p, q in zip(params, start, strict=True):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=0)


def test_galore_keeps_adams_moments_in_the_projected_space(
    tiny_model_dir, tiny_tokenizer, examples, small_data, tmp_path
) -> None:
    """GaLore-AdamW through transformers: a linear layer's moments are rank × width, not its shape."""
    from galore_torch import GaLoreAdamW

    params = {"rank": 4, "update_proj_gap": 2}
    spec = spec_for(tiny_model_dir, small_data, tmp_path / "out", "galore", method_params=params)
    prepared, trainer, _loss, saved, _ = train_briefly(spec, tiny_model_dir, tiny_tokenizer, examples)
    inner = getattr(trainer.optimizer, "optimizer", trainer.optimizer)
    assert isinstance(inner, GaLoreAdamW)
    weight = prepared.model.model.layers[0].mlp.down_proj.weight  # 64 × 128
    moment = inner.state[weight]["exp_avg"]
    assert 4 in moment.shape and moment.numel() < weight.numel()
    # The estimate's count of the optimizer's values, against what the optimizer holds after training.
    from trainers import estimate, trainable

    held = 0
    for state in inner.state.values():
        held += state["exp_avg"].numel() + state["exp_avg_sq"].numel()
        if "projector" in state:
            held += state["projector"].ortho_matrix.numel()
    config = json.loads((saved / "config.json").read_text())
    shape = estimate.shape_from_config(config)
    assert trainable.galore_state_values(shape, spec.method_params) == held


@pytest.mark.parametrize(("method", "method_params"), [("mezo", {}), ("galore", {"rank": 4})])
def test_memory_frugal_methods_run_through_the_trainer(
    method, method_params, tiny_model_dir, small_data, tmp_path
) -> None:
    """The trainer's own run (``run_job``) installs the method's training step or optimizer and saves
    a whole model that plain transformers loads."""
    training = {"batch_size": 8, "max_seq_length": 32, "learning_rate": 1e-3}
    spec = spec_for(tiny_model_dir, small_data, tmp_path / "out", method, training=training,
                    method_params=method_params)  # fmt: skip
    out = io.StringIO()
    assert run_job(spec, EventEmitter(out)) == 0
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert events[-1]["status"] == "succeeded"
    saved = tmp_path / "out" / "model"
    reloaded = AutoModelForCausalLM.from_pretrained(saved)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert any(not torch.equal(p, q) for p, q in zip(reloaded.parameters(), base.parameters(), strict=True))


def test_a_boft_block_that_does_not_divide_a_layer_is_refused_with_its_field(
    tiny_model_dir, small_data, tmp_path
) -> None:
    spec = spec_for(tiny_model_dir, small_data, tmp_path / "out", "boft", method_params={"block_size": 48})
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    with pytest.raises(MethodError, match=r"method_params.block_size: in_features \(64\) must be divisible"):
        methods.apply_method(model, spec, methods.Context())
