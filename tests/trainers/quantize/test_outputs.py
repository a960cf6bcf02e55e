"""The two output formats, read back by their consumers: transformers (torchao) and gguf's reader."""

from __future__ import annotations

import json
from pathlib import Path

import gguf
import numpy as np
import pytest
import torch
from safetensors import safe_open

from trainers.quantize.checkpoint import Checkpoint, linear_weight_names, meta_model
from trainers.quantize.gguf_export import check_gguf_support, pack_q4_0, permute_rows, write_gguf
from trainers.quantize.gptq import GptqSettings, gptq_model
from trainers.quantize.rtn import quantize_int4_groupwise, quantize_rtn
from trainers.quantize.torchao_export import ShardWriter, torchao_config, write_torchao
from trainers.spec import SpecError

Q4_0, Q8_0, F32 = (gguf.GGMLQuantizationType[n] for n in ("Q4_0", "Q8_0", "F32"))


def export_torchao(model_dir: Path, out: Path, method: str, shard_bytes: int = 2**31) -> Path:
    checkpoint = Checkpoint(model_dir)
    targets = linear_weight_names(meta_model(model_dir))
    bits = 8 if method == "rtn_int8" else 4

    def quantize(name, tensor):
        return quantize_rtn(tensor, method, 32, False) if name in targets else None

    return write_torchao(checkpoint, out, quantize, {}, torchao_config(bits, 32, False), "card", shard_bytes)


@pytest.mark.parametrize(
    ("method", "kind"), [("rtn_int8", "Int8Tensor"), ("rtn_int4", "IntxUnpackedToInt8Tensor")]
)
def test_torchao_output_loads_quantized_with_from_pretrained_and_generates(
    trained_model_dir: Path, tmp_path: Path, method: str, kind: str
):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = export_torchao(trained_model_dir, tmp_path / method, method)
    assert json.loads((out / "config.json").read_text())["quantization_config"]["quant_method"] == "torchao"
    model = AutoModelForCausalLM.from_pretrained(out)
    original = AutoModelForCausalLM.from_pretrained(trained_model_dir)
    q_proj = model.model.layers[1].self_attn.q_proj.weight
    assert type(q_proj).__name__ == kind and q_proj.qdata.dtype == torch.int8  # still integers in memory
    expected = quantize_rtn(original.model.layers[1].self_attn.q_proj.weight.detach(), method, 32, False)
    assert torch.equal(q_proj.dequantize(), expected.dequantize())
    tokenizer = AutoTokenizer.from_pretrained(out)
    ids = tokenizer("3 plus 4 is", return_tensors="pt")
    generated = model.generate(**ids, max_new_tokens=4, do_sample=False)
    assert generated.shape[1] == ids["input_ids"].shape[1] + 4
    reference = original.generate(**ids, max_new_tokens=4, do_sample=False)

    def answer(tokens: torch.Tensor) -> str:  # the sum; the word after "spell" is a free choice
        return tokenizer.decode(tokens).split(" is", 1)[1].split(".")[0].strip()

    assert answer(reference[0]) == "7"  # the trained model knows it
    assert answer(generated[0]) == "7"  # and the quantized one keeps its answer


def test_torchao_output_is_sharded_with_an_index_when_it_is_large(trained_model_dir: Path, tmp_path: Path):
    from transformers import AutoModelForCausalLM

    whole = AutoModelForCausalLM.from_pretrained(
        export_torchao(trained_model_dir, tmp_path / "one", "rtn_int4")
    )
    out = export_torchao(trained_model_dir, tmp_path / "sharded", "rtn_int4", shard_bytes=100_000)
    index = json.loads((out / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 2
    sharded = AutoModelForCausalLM.from_pretrained(out)
    ids = torch.tensor([[1, 5, 9, 20, 33]])
    assert torch.equal(sharded(ids).logits, whole(ids).logits)


def test_every_shard_names_every_tensor_for_transformers():
    writer = ShardWriter(Path("."), ["a.weight", "b.weight"])
    assert json.loads(writer.names_json) == ["a.weight", "b.weight"]


def read_gguf(path: Path) -> tuple[gguf.GGUFReader, dict]:
    reader = gguf.GGUFReader(path)
    return reader, {t.name: t for t in reader.tensors}


def field(reader: gguf.GGUFReader, key: str):
    return reader.fields[key].contents()


@pytest.mark.parametrize("file_type", ["Q8_0", "Q4_0"])
def test_gguf_reads_back_with_tensors_types_and_tokenizer(
    trained_model_dir: Path, tmp_path: Path, file_type: str
):
    from transformers import AutoTokenizer

    path = write_gguf(Checkpoint(trained_model_dir), tmp_path / f"m-{file_type}.gguf", file_type, "trained")
    reader, tensors = read_gguf(path)
    assert len(tensors) == 2 * 9 + 3  # per layer: 7 projections + 2 norms; embeddings, final norm, output
    main = Q8_0 if file_type == "Q8_0" else Q4_0
    assert tensors["blk.0.attn_q.weight"].tensor_type == main
    assert tensors["blk.1.ffn_down.weight"].tensor_type == main
    assert tensors["token_embd.weight"].tensor_type == main
    assert tensors["output.weight"].tensor_type == Q8_0  # kept at 8 bits in a Q4_0 file too
    assert tensors["blk.0.attn_norm.weight"].tensor_type == F32
    assert list(tensors["blk.0.ffn_up.weight"].shape) == [64, 128]  # ggml order: columns first

    tokenizer = AutoTokenizer.from_pretrained(trained_model_dir)
    assert field(reader, "general.architecture") == "llama"
    assert field(reader, "llama.block_count") == 2 and field(reader, "llama.embedding_length") == 64
    assert (
        field(reader, "llama.attention.head_count") == 4 and field(reader, "llama.rope.dimension_count") == 16
    )
    assert field(reader, "tokenizer.ggml.model") == "gpt2" and field(reader, "tokenizer.ggml.pre") == "gpt-2"
    tokens = field(reader, "tokenizer.ggml.tokens")
    assert len(tokens) == 512 and tokens[tokenizer.eos_token_id] == "</s>"
    assert field(reader, "tokenizer.ggml.token_type")[tokenizer.bos_token_id] == gguf.TokenType.CONTROL
    assert field(reader, "tokenizer.ggml.merges")[:2] == [
        " ".join(m)
        for m in json.loads((trained_model_dir / "tokenizer.json").read_text())["model"]["merges"][:2]
    ]
    assert field(reader, "tokenizer.ggml.bos_token_id") == tokenizer.bos_token_id
    assert field(reader, "tokenizer.ggml.eos_token_id") == tokenizer.eos_token_id
    assert field(reader, "tokenizer.ggml.padding_token_id") == tokenizer.pad_token_id
    assert field(reader, "tokenizer.ggml.add_bos_token") is True
    assert field(reader, "tokenizer.chat_template") == tokenizer.chat_template


def test_a_gguf_loader_rebuilds_the_model_and_tokenizer(trained_model_dir: Path, tmp_path: Path):
    """transformers' GGUF reader undoes the rotary permutation and builds a tokenizer from the metadata,
    as llama.cpp does: the same ids, and logits within Q8_0's rounding of the original."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = write_gguf(Checkpoint(trained_model_dir), tmp_path / "m.gguf", "Q8_0", "trained")
    text = "<|user|>\nspell lemon\n<|assistant|>\nl e m o n"
    ours, theirs = (
        AutoTokenizer.from_pretrained(trained_model_dir),
        AutoTokenizer.from_pretrained(tmp_path, gguf_file=path.name),
    )
    assert theirs(text)["input_ids"] == ours(text)["input_ids"]
    ids = torch.tensor([ours(text)["input_ids"]])
    original = AutoModelForCausalLM.from_pretrained(trained_model_dir)(ids).logits
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file=path.name)(ids).logits
    assert (loaded - original).abs().max() < 0.05 * original.abs().max()


def test_gptq_integers_go_into_q4_0_blocks_unchanged(trained_model_dir: Path, tmp_path: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(trained_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(trained_model_dir)
    windows = [torch.tensor([tokenizer("4 plus 5 is 9. " * 8)["input_ids"][:32]])]
    result = gptq_model(model, windows, GptqSettings(group_size=32, symmetric=True, block_size=32))
    path = write_gguf(
        Checkpoint(trained_model_dir), tmp_path / "gptq.gguf", "Q4_0", "trained", result.weights
    )
    _, tensors = read_gguf(path)
    for source, target, heads in [
        ("model.layers.0.self_attn.k_proj.weight", "blk.0.attn_k.weight", 4),
        ("model.layers.1.mlp.down_proj.weight", "blk.1.ffn_down.weight", None),
    ]:
        stored = tensors[target]
        decoded = gguf.quants.dequantize(np.asarray(stored.data), Q4_0).reshape(stored.shape[::-1])
        expected = result.weights[source].dequantize()
        expected = permute_rows(expected, heads) if heads else expected
        assert np.array_equal(decoded, expected.numpy())


def test_q4_0_packing_refuses_what_does_not_fit():
    with pytest.raises(ValueError, match="symmetric 4-bit groups of 32"):
        pack_q4_0(quantize_int4_groupwise(torch.randn(4, 64), 32, symmetric=False))


def test_gguf_refuses_architectures_llama_cpp_would_not_load_as_llama():
    with pytest.raises(SpecError, match="GGUF export supports Llama-architecture models.*Qwen2ForCausalLM"):
        check_gguf_support({"architectures": ["Qwen2ForCausalLM"]})
    with pytest.raises(SpecError, match="rope scaling 'yarn'"):
        check_gguf_support({"architectures": ["LlamaForCausalLM"], "rope_parameters": {"rope_type": "yarn"}})


def test_torchao_files_hold_integers_not_floats(trained_model_dir: Path, tmp_path: Path):
    out = export_torchao(trained_model_dir, tmp_path / "ints", "rtn_int4")
    with safe_open(out / "model.safetensors", framework="pt") as f:
        qdata = f.get_tensor("model.layers.0.mlp.up_proj._weight_qdata")
    assert qdata.dtype == torch.int8 and qdata.min() >= -8 and qdata.max() <= 7
