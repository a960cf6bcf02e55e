"""LoRA SFT throughput: effective (non-padding) tokens per second, Hone against the library.

One tiny random Llama-style model (a few million parameters), one synthetic SFT dataset whose
lengths vary widely (lognormal, 8..512 tokens, a masked prompt then a response), the same
LoRA (r=16, all linear layers), optimizer, learning rate and seed, one epoch each, through the
transformers ``Trainer``, side by side in one process:

  a  padded        batches of --batch-size examples in random order, padded to the longest
  b  flattening    the same batches through transformers' ``DataCollatorWithFlattening``
                   (one row per batch, position_ids restart per example; ``use_cache`` off, or
                   Llama ignores the resets and attention leaks across examples)
  c  hone          trainers/packing.py with max_batch_tokens (--budget-rows rows of 512) and
                   group_by_length: batches of similar-length examples, as many as fit the
                   token budget padding included, in random order between length chunks
  c' hone-packed   the same token budget with packing: examples packed best-fit into rows of at
                   most max_seq_length tokens, position_ids restarting per example

Every run sees the same examples (the same tokens), so the eval loss afterwards (one padded
evaluation on held-out rows, the same for all) shows whether the paths learn the same.
Throughput is also given per CPU-second of this process (``time.process_time``), which other
load on a shared machine barely moves; wall-clock tokens/s is printed next to it.
    OMP_NUM_THREADS=1 python bench/sft_throughput.py [--examples 300] [--hidden 256] [--layers 4]
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from peft import LoraConfig, get_peft_model  # noqa: E402
from transformers import (  # noqa: E402
    DataCollatorWithFlattening,
    LlamaConfig,
    LlamaForCausalLM,
    PrinterCallback,
    Trainer,
    TrainingArguments,
)
from transformers.utils import logging as hf_logging  # noqa: E402

from trainers.examples import IGNORE_INDEX, PadCollator  # noqa: E402
from trainers.packing import BatchCollator, Batching, batch_tokens, make_batches  # noqa: E402

MAX_LEN = 512
VOCAB = 512
PAD = 0


def successors(seed: int = 1234) -> list[list[int]]:
    """A sparse Markov chain: each token is followed by one of 2 others, so there is something to learn."""
    rng = random.Random(seed)
    return [[rng.randrange(3, VOCAB) for _ in range(2)] for _ in range(VOCAB)]


def make_examples(n: int, seed: int) -> list[dict]:
    """Lognormal lengths (median ~60, long tail) clipped to 8..512; the first 10-50% is a masked prompt."""
    rng = random.Random(seed)
    chain = successors()
    examples = []
    for _ in range(n):
        length = min(MAX_LEN, max(8, int(rng.lognormvariate(math.log(60), 0.9))))
        ids = [rng.randrange(3, VOCAB)]
        while len(ids) < length:
            ids.append(rng.choice(chain[ids[-1]]))
        prompt = max(1, int(length * rng.uniform(0.1, 0.5)))
        examples.append({"input_ids": ids, "labels": [IGNORE_INDEX] * prompt + ids[prompt:]})
    return examples


def make_model(hidden: int, layers: int, seed: int):
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=VOCAB, hidden_size=hidden, intermediate_size=hidden * 2, num_hidden_layers=layers,
        num_attention_heads=max(1, hidden // 64), num_key_value_heads=max(1, hidden // 64),
        max_position_embeddings=MAX_LEN, pad_token_id=PAD, tie_word_embeddings=False,
        attn_implementation="sdpa",
    )  # fmt: skip
    model = LlamaForCausalLM(config)
    model.config.use_cache = False  # training: no KV cache (and packed masks need it off)
    lora = LoraConfig(
        task_type="CAUSAL_LM", r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear"
    )
    return get_peft_model(model, lora)


def arguments(out: Path, batch_size: int, seed: int) -> TrainingArguments:
    return TrainingArguments(
        output_dir=str(out), per_device_train_batch_size=batch_size, num_train_epochs=1,
        learning_rate=5e-3, warmup_steps=0.05, lr_scheduler_type="linear", eval_strategy="no",
        save_strategy="no", logging_strategy="no", report_to="none", disable_tqdm=True,
        seed=seed, data_seed=seed, dataloader_num_workers=0, remove_unused_columns=False, use_cpu=True,
    )  # fmt: skip


@torch.no_grad()
def eval_loss(model, examples: list[dict]) -> float:
    """Token-weighted mean loss over held-out examples, padded, identical for every path."""
    model.eval()
    total, count = 0.0, 0
    collate = PadCollator(PAD)
    for start in range(0, len(examples), 16):
        batch = collate(examples[start : start + 16])
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        labels = batch["labels"][:, 1:]
        losses = torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, logits.shape[-1]), labels.reshape(-1), reduction="sum"
        )
        total, count = total + losses.item(), count + int((labels != IGNORE_INDEX).sum())
    return total / count


def run(name: str, dataset: list[dict], collator, batch_size: int, opts: argparse.Namespace,
        held_out: list[dict], real_tokens: int) -> dict:  # fmt: skip
    model = make_model(opts.hidden, opts.layers, opts.seed)
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"hone-bench-sft-{name}"
    trainer = Trainer(model=model, args=arguments(out, batch_size, opts.seed), data_collator=collator,
                      train_dataset=dataset)  # fmt: skip
    trainer.remove_callback(PrinterCallback)  # its end-of-run dict is noise here
    start, cpu_start = time.perf_counter(), time.process_time()
    result = trainer.train()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return {
        "name": name, "seconds": seconds, "cpu_seconds": cpu, "tokens_per_s": real_tokens / seconds,
        "tokens_per_cpu_s": real_tokens / cpu, "steps": result.global_step,
        "train_loss": result.training_loss, "eval_loss": eval_loss(model, held_out),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=300)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--budget-rows", type=int, default=3, help="token budget = this many rows of 512")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", default="a,b,c,c'", help="which paths to run, comma-separated")
    opts = parser.parse_args()
    hf_logging.set_verbosity_error()
    torch.manual_seed(opts.seed)

    train = make_examples(opts.examples, opts.seed)
    held_out = make_examples(64, opts.seed + 1)
    real = sum(len(e["input_ids"]) for e in train)
    budget = opts.budget_rows * MAX_LEN
    how = dict(batch_size=opts.batch_size, max_batch_tokens=budget, row_length=MAX_LEN, seed=opts.seed)
    grouped = make_batches(train, Batching(**how, packing=False, group_by_length=True))
    packed = make_batches(train, Batching(**how, packing=True, group_by_length=False))
    lengths = sorted(len(e["input_ids"]) for e in train)
    params = sum(p.numel() for p in make_model(opts.hidden, opts.layers, 0).parameters()) / 1e6
    print(f"{len(train)} examples, {real:,} tokens (median {lengths[len(lengths) // 2]}, max {lengths[-1]}); "
          f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); "
          f"model hidden {opts.hidden} x {opts.layers} layers, {params:.1f}M params")  # fmt: skip
    for label, batches in (("c ", grouped), ("c'", packed)):
        processed = sum(batch_tokens(b)[0] for b in batches)
        print(f"  {label} {len(batches)} batches, {1 - real / processed:.1%} padding")

    paths = {
        "a": ("a  padded", train, PadCollator(PAD), opts.batch_size),
        "b": ("b  flattening", train, DataCollatorWithFlattening(), opts.batch_size),
        "c": ("c  hone", grouped, BatchCollator(PAD, packing=False), 1),
        "c'": ("c' hone-packed", packed, BatchCollator(PAD, packing=True), 1),
    }
    results = {}
    for key in opts.only.split(","):
        label, dataset, collator, batch_size = paths[key]
        results[key] = run(key, dataset, collator, batch_size, opts, held_out, real)
        r = results[key]
        print(f"{label:16} {r['tokens_per_cpu_s']:7,.0f} tok/CPU-s {r['tokens_per_s']:7,.0f} tok/s (wall)  "
              f"{r['cpu_seconds']:6.1f} CPU-s  {r['steps']:3d} steps  "
              f"train loss {r['train_loss']:.4f}  eval loss {r['eval_loss']:.4f}", flush=True)  # fmt: skip
    for top in ("c", "c'"):
        for base in ("a", "b"):
            if top in results and base in results:
                cpu = results[top]["tokens_per_cpu_s"] / results[base]["tokens_per_cpu_s"]
                wall = results[top]["tokens_per_s"] / results[base]["tokens_per_s"]
                print(f"{top}/{base} = {cpu:.2f}x per CPU-second ({wall:.2f}x wall)")


if __name__ == "__main__":
    main()
