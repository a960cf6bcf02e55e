"""Mixed precision and AWQ against round-to-nearest, on a model with real trained weights.

The model: a small Llama (``--hidden``, ``--layers``) with its own BPE tokenizer, trained from scratch
with plain next-token loss on paragraphs of the Python library reference Debian ships (python3-doc,
``scripts/install-test-data``; tests/support/real_text.py), cached under var/bench. Calibration
windows come from the training paragraphs; perplexity is measured on held-out paragraphs the model
never saw. Each row quantizes a fresh copy of the trained model with Hone's own code and prints:

  uniform int4 (RTN)         every decoder Linear at 4 bits, groups of --group, round-to-nearest
  mixed precision            a width per Linear from {2,3,4,8} chosen by integer program under a
                             bytes budget equal to the uniform int4 model's stored bytes (integers,
                             float16 scales, zero points), so the two are the same size
  AWQ int4 / RTN int4        the same bits and group size, asymmetric and symmetric groups

and the ratios mixed / uniform and AWQ / RTN of perplexity (lower is better; < 1 means it wins).

    nice -n 10 env OMP_NUM_THREADS=1 python bench/quant_mixed.py [--hidden 128] [--layers 4] [--steps 800]
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from tests.support.doc_model import doc_model, doc_texts, token_windows  # noqa: E402
from trainers.evaluation.metrics import score_texts  # noqa: E402
from trainers.quantize.awq import awq_model  # noqa: E402
from trainers.quantize.intn import quantize_groupwise  # noqa: E402
from trainers.quantize.mixed import mixed_model  # noqa: E402
from trainers.quantize.params_mixed import AwqParams, MixedParams, stored_bits_per_weight  # noqa: E402
from trainers.quantize.sensitivity import target_linears  # noqa: E402


def perplexity(model, tokenizer, texts: list[str]) -> float:
    return score_texts(model, tokenizer, texts, max_length=256, stride=128).perplexity


def uniform(model, bits: int, group: int, symmetric: bool) -> float:
    """Round every decoder Linear to ``bits`` in place; the stored bytes."""
    size = 0.0
    with torch.no_grad():
        for module in target_linears(model).values():
            q = quantize_groupwise(module.weight.float(), bits, group, symmetric)
            module.weight.copy_(q.dequantize())
            size += module.weight.numel() * stored_bits_per_weight(bits, group) / 8
    return size


def main() -> None:  # noqa: PLR0915 (one flat report)
    parser = argparse.ArgumentParser()
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--group", type=int, default=64)
    parser.add_argument("--windows", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=128)
    args = parser.parse_args()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    train, held_out = doc_texts()
    started = time.process_time()
    model_dir = doc_model(
        ROOT / "var" / "bench" / f"quant_mixed_doc_{args.hidden}x{args.layers}_{args.steps}",
        args.hidden,
        args.layers,
        args.steps,
    )
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    trained = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    windows = token_windows(tokenizer, train, args.windows, args.seq_len)
    print(
        f"model: {model_dir.name}, {sum(p.numel() for p in trained.parameters()):,} parameters, "
        f"trained on python3-doc (CPU s so far {time.process_time() - started:.0f})"
    )
    print(f"held-out: {len(held_out)} paragraphs; calibration: {args.windows}×{args.seq_len} tokens")
    full = perplexity(trained, tokenizer, held_out)
    print(f"{'full precision':34} ppl {full:8.3f}")

    rows = {}
    for symmetric in (False, True):
        kind = "sym" if symmetric else "asym"
        model = copy.deepcopy(trained)
        size = uniform(model, 4, args.group, symmetric)
        rows[f"rtn4 {kind}"] = (perplexity(model, tokenizer, held_out), size)
        model = copy.deepcopy(trained)
        awq_model(model, windows, AwqParams(group_size=args.group, symmetric=symmetric))
        rows[f"awq4 {kind}"] = (perplexity(model, tokenizer, held_out), size)
    for adaquant in (False, True):
        model = copy.deepcopy(trained)
        p = MixedParams(
            bytes_budget=int(rows["rtn4 asym"][1]), group_size=args.group, layerwise_calibration=adaquant
        )
        result = mixed_model(model, windows, p)
        name = "mixed" + (" + adaquant" if adaquant else "")
        rows[name] = (perplexity(model, tokenizer, held_out), result.summary["bytes"])
        widths = result.widths.values()
        print(f"  {name} widths: " + ", ".join(f"{b}-bit ×{list(widths).count(b)}" for b in (2, 3, 4, 8)))
    for name, (ppl, size) in rows.items():
        print(f"{name:34} ppl {ppl:8.3f}   stored bytes {size:10,.0f}")
    for name in ("mixed", "mixed + adaquant"):
        print(
            f"ratio {name} / uniform int4 (same size): {rows[name][0] / rows['rtn4 asym'][0]:.4f} "
            f"(size {rows[name][1] / rows['rtn4 asym'][1]:.4f})"
        )
    for kind in ("asym", "sym"):
        print(
            f"ratio AWQ / RTN int4 {kind}, groups of {args.group}: "
            f"{rows[f'awq4 {kind}'][0] / rows[f'rtn4 {kind}'][0]:.4f}"
        )
    print(f"CPU seconds: {time.process_time() - started:.0f}")


if __name__ == "__main__":
    main()
