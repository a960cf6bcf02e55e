"""Quantize speed: seconds per million parameters, Hone's code path against a plain-torch baseline.

A Llama-style model (random weights: speed does not depend on them) is written to a temporary
directory; each row runs the two sides interleaved, ``--runs`` times, and reports medians:

  rtn_int8 / rtn_int4   hone: the quantize job's streaming path, one tensor at a time from
                        safetensors into a torchao checkpoint on disk (quantize + write);
                        hone (math): the same run's time inside the quantizer only;
                        baseline: every tensor loaded at once (safetensors.torch.load_file) and
                        quantized with a bare torch round/clamp of the same formula, nothing written.
  gptq_int4             hone: GPTQ layer by layer on calibration windows (the model's forward passes,
                        Hessians, column updates), without writing; baseline: the rtn_int4 baseline,
                        so the ratio is what GPTQ costs over round-to-nearest.
  gguf_q8_0 / q4_0      hone: the streaming GGUF writer (tokenizer metadata, permutation, ggml block
                        quantization, file); baseline: gguf.quants.quantize on every tensor in memory.

Per million parameters counts the tensors each path quantizes (the decoder Linears for RTN and
GPTQ; every weight for GGUF).
    python bench/quantize_speed.py [--runs 3] [--hidden 512] [--layers 4]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from trainers.evaluation.models import quiet_import_torchao  # noqa: E402
from trainers.quantize.checkpoint import Checkpoint, linear_weight_names, meta_model  # noqa: E402


def build_model(out: Path, hidden: int, layers: int) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM

    from trainers.tiny import build_tiny_llama

    build_tiny_llama(out)  # tokenizer and config files; the model itself is replaced below
    config = LlamaConfig.from_pretrained(out)
    config.hidden_size, config.intermediate_size, config.num_hidden_layers = hidden, hidden * 3, layers
    config.num_attention_heads = config.num_key_value_heads = hidden // 64
    config.head_dim = 64
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(out)
    return out


def baseline_rtn(model_dir: Path, targets: dict, bits: int) -> float:
    from safetensors.torch import load_file

    started = time.perf_counter()
    state = load_file(model_dir / "model.safetensors")
    for name in targets:
        w = state[name].float()
        if bits == 8:
            scale = w.abs().amax(dim=1, keepdim=True) / 127
            torch.clamp(torch.round(w / scale), -127, 127).to(torch.int8)
        else:
            g = w.reshape(w.shape[0], -1, 32)
            low, high = g.amin(-1, keepdim=True).clamp(max=0), g.amax(-1, keepdim=True).clamp(min=0)
            scale = (high - low) / 15
            torch.clamp(torch.round(g / scale) + torch.round(-low / scale), 0, 15).to(torch.int8)
    return time.perf_counter() - started


def hone_rtn(checkpoint: Checkpoint, targets: dict, method: str, out: Path) -> tuple[float, float]:
    from trainers.quantize.rtn import quantize_rtn
    from trainers.quantize.torchao_export import torchao_config, write_torchao

    inside = [0.0]

    def quantize(name: str, tensor: torch.Tensor):
        if name not in targets:
            return None
        started = time.perf_counter()
        result = quantize_rtn(tensor, method, 32, False)
        inside[0] += time.perf_counter() - started
        return result

    started = time.perf_counter()
    config = torchao_config(8 if method == "rtn_int8" else 4, 32, False)
    write_torchao(checkpoint, out, quantize, {}, config, "bench")
    return time.perf_counter() - started, inside[0]


def hone_gptq(model_dir: Path, windows: list[torch.Tensor]) -> float:
    from transformers import AutoModelForCausalLM

    from trainers.quantize.gptq import GptqSettings, gptq_model

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    started = time.perf_counter()
    gptq_model(model, windows, GptqSettings(group_size=32, symmetric=True))
    return time.perf_counter() - started


def baseline_gguf(model_dir: Path, file_type: str) -> float:
    import gguf
    from safetensors.torch import load_file

    qtype = gguf.GGMLQuantizationType[file_type]
    started = time.perf_counter()
    for tensor in load_file(model_dir / "model.safetensors").values():
        if tensor.ndim == 2:
            gguf.quants.quantize(tensor.float().numpy(), qtype)
    return time.perf_counter() - started


def hone_gguf(checkpoint: Checkpoint, file_type: str, out: Path) -> float:
    from trainers.quantize.gguf_export import write_gguf

    started = time.perf_counter()
    write_gguf(checkpoint, out, file_type, "bench")
    return time.perf_counter() - started


def median_of(runs: int, hone: Callable[[], object], baseline: Callable[[], float]) -> tuple[list, list]:
    hone_times, baseline_times = [], []
    for _ in range(runs):  # interleaved, so drift on a shared machine hits both sides alike
        hone_times.append(hone())
        baseline_times.append(baseline())
    return hone_times, baseline_times


def row(name: str, params: int, hone: float, baseline: float, extra: str = "") -> None:
    per_m = 1e6 / params
    print(
        f"| {name} | {params / 1e6:.2f} M | {hone * per_m:.3f} s | {baseline * per_m:.3f} s | "
        f"{hone / baseline:.1f}× |{extra}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--windows", type=int, default=32, help="GPTQ calibration windows of 128 tokens")
    args = parser.parse_args()
    quiet_import_torchao()
    work = Path(tempfile.mkdtemp(prefix="hone-bench-quantize-"))
    try:
        run_all(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def rtn_row(checkpoint: Checkpoint, targets: dict, method: str, runs: int, work: Path) -> None:
    params = sum(o * i for o, i in targets.values())
    results: list[tuple[float, float]] = []

    def hone() -> float:
        results.append(hone_rtn(checkpoint, targets, method, work / method))
        return results[-1][0]

    bits = 8 if method == "rtn_int8" else 4
    hone_times, base_times = median_of(runs, hone, lambda: baseline_rtn(checkpoint.dir, targets, bits))
    math_only = statistics.median(r[1] for r in results)
    row(
        method,
        params,
        statistics.median(hone_times),
        statistics.median(base_times),
        f" {math_only * 1e6 / params:.3f} s |",
    )


def run_all(args: argparse.Namespace, work: Path) -> None:
    model_dir = build_model(work / "model", args.hidden, args.layers)
    checkpoint = Checkpoint(model_dir)
    targets = linear_weight_names(meta_model(model_dir))
    linear_params = sum(o * i for o, i in targets.values())
    all_params = sum(t.shape[0] * t.shape[1] for t in checkpoint.tensors.values() if len(t.shape) == 2)
    print(
        f"model: hidden {args.hidden}, {args.layers} layers, {checkpoint.parameter_count / 1e6:.1f} M "
        f"parameters; torch threads {torch.get_num_threads()}; medians of {args.runs} runs"
    )
    print("| path | parameters | hone per M | baseline per M | ratio | hone (math only) per M |")
    print("|---|---|---|---|---|---|")
    for method in ("rtn_int8", "rtn_int4"):
        rtn_row(checkpoint, targets, method, args.runs, work)
    stream = torch.randint(3, 512, (args.windows * 128,))
    windows = [stream[i * 128 : (i + 1) * 128].unsqueeze(0) for i in range(args.windows)]
    hone, base = median_of(
        args.runs, lambda: hone_gptq(model_dir, windows), lambda: baseline_rtn(model_dir, targets, 4)
    )
    row(
        f"gptq_int4 ({args.windows}×128 tokens)",
        linear_params,
        statistics.median(hone),
        statistics.median(base),
        " |",
    )
    for file_type in ("Q8_0", "Q4_0"):
        hone, base = median_of(
            args.runs,
            lambda f=file_type: hone_gguf(checkpoint, f, work / f"{f}.gguf"),
            lambda f=file_type: baseline_gguf(model_dir, f),
        )
        row(f"gguf_{file_type.lower()}", all_params, statistics.median(hone), statistics.median(base), " |")


if __name__ == "__main__":
    main()
