"""The pre-flight memory estimate per training method against the measured peak, on CPU.

Each method trains a random Llama (hidden 256, 4 blocks, vocabulary 8000, about 7 M weights, fp32) for
three steps of 4 × 128 tokens in its own process, through the transformers Trainer with the method's
``Prepared`` installed, as the trainer runs it. Measured: peak RSS (``ru_maxrss``) minus the RSS once
torch, transformers and peft are imported and before the model exists (the "runtime", which the
estimate's fixed framework allowance stands for). Estimated: ``trainers.estimate.training_memory`` with
``trainers.trainable``'s count for the method, through ``trainers.estimate_methods.method_memory``
(``forward_only_memory`` for MeZO and for the inference row), less that allowance. SpIEL and HFT
update every step here (their drop-and-grow, their draw), so what those updates hold is measured.
MeZO is compared with inference too: the same batches, forward with labels under ``torch.no_grad``.

    OMP_NUM_THREADS=1 nice -n 10 python bench/method_memory.py [--methods lora,full,mezo,spiel,hft]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SEQ, BATCH, STEPS = 128, 4, 3
CASES: dict[str, dict] = {
    "inference": {},
    "lora": {"lora": {"r": 16}},
    "full": {},
    "oft": {"method_params": {"block_size": 32}},
    "boft": {"method_params": {"block_size": 4}},
    "fourierft": {"method_params": {"n_frequency": 1000}},
    "miss": {"method_params": {"r": 64}},
    "ln_tuning": {},
    "mezo": {},
    "galore": {"method_params": {"rank": 32, "update_proj_gap": 200}},
    "spiel": {"method_params": {"density": 0.01, "update_interval": 1}},
    "spiel_sm3": {"method_params": {"density": 0.01, "update_interval": 1, "regrow": "sm3"}},
    "spiel_d20": {"method_params": {"density": 0.2, "update_interval": 1}},
    "hft": {"method_params": {"period": 1}},
}
# A case's method, where the case is one of its variants.
METHOD_OF = {"spiel_sm3": "spiel", "spiel_d20": "spiel", "inference": "mezo"}


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def build_model():
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=8000,
        hidden_size=256,
        intermediate_size=688,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=SEQ,
        tie_word_embeddings=False,
    )
    return LlamaForCausalLM(config)


def estimated(name: str, config: dict) -> int:
    from trainers import estimate, estimate_methods

    shape = estimate.shape_from_config(config)
    memory = estimate_methods.method_memory(
        shape, METHOD_OF.get(name, name), CASES[name], seq_len=SEQ, batch_size=BATCH, device="cpu"
    )
    return memory.total - memory.framework


def batches():
    import torch

    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 8000, (STEPS * BATCH, SEQ), generator=generator)
    return [{"input_ids": row, "attention_mask": torch.ones_like(row), "labels": row} for row in ids]


def measure(name: str) -> dict:
    """Run one method (in this process, which the parent started for it) and report its numbers."""
    import torch
    from transformers import Trainer, TrainingArguments

    from trainers import methods
    from trainers.spec import LoraParams

    torch.manual_seed(0)
    data = batches()
    runtime = rss_bytes()
    model = build_model()
    if name == "inference":
        with torch.no_grad():
            for i in range(STEPS):
                rows = data[i * BATCH : (i + 1) * BATCH]
                model(**{k: torch.stack([r[k] for r in rows]) for k in rows[0]})
    else:
        method = methods.get(METHOD_OF.get(name, name))
        ctx = methods.Context(lora=LoraParams(**CASES[name].get("lora", {})), total_steps=STEPS)
        prepared = method.apply(model, method.validate_params(CASES[name].get("method_params")), ctx)
        args = TrainingArguments(
            output_dir=tempfile.mkdtemp(),
            use_cpu=True,
            max_steps=STEPS,
            per_device_train_batch_size=BATCH,
            report_to=[],
            save_strategy="no",
            logging_strategy="no",
            disable_tqdm=True,
            learning_rate=1e-4,
        )
        trainer = Trainer(model=prepared.model, args=args, train_dataset=data, callbacks=prepared.callbacks)
        trainer = prepared.install(trainer)
        trainer.train()
    return {
        "method": name,
        "measured": peak_bytes() - runtime,
        "estimated": estimated(name, model.config.to_dict()),
        "runtime": runtime,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default=",".join(CASES))
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one)))
        return
    mib = 1024**2
    print(f"{'method':<10} {'estimated MiB':>14} {'measured MiB':>13} {'est/meas':>9}")
    rows = {}
    for name in args.methods.split(","):
        out = subprocess.run(
            [sys.executable, __file__, "--one", name],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"},
        )
        row = rows[name] = json.loads(out.stdout.strip().splitlines()[-1])
        ratio = row["estimated"] / row["measured"]
        print(
            f"{name:<10} {row['estimated'] / mib:>14.0f} {row['measured'] / mib:>13.0f} {ratio:>9.2f}",
            flush=True,
        )
    for name in ("spiel", "spiel_sm3", "spiel_d20", "hft"):
        if name in rows and "full" in rows:
            share = rows[name]["measured"] / rows["full"]["measured"]
            print(f"{name} peak ÷ full fine-tuning peak: {share:.2f}")
    if "mezo" in rows and "inference" in rows:
        print(f"MeZO peak ÷ inference peak: {rows['mezo']['measured'] / rows['inference']['measured']:.2f}")


if __name__ == "__main__":
    main()
