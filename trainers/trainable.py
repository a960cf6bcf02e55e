"""What each training method (trainers/methods/) trains, counted from the model's config: the
pre-flight estimate's trainable parameters (a test compares every count with the real model's)."""

from __future__ import annotations

import dataclasses
import math

from trainers.estimate import ModelShape, lora_parameter_count, parameter_count


def _near_square(dimension: int) -> tuple[int, int]:
    """Two factors of ``dimension`` as close to its square root as can be, smaller first (as LoKr)."""
    m = max((d for d in range(1, math.isqrt(dimension) + 1) if dimension % d == 0), default=1)
    return m, dimension // m


def _lokr_count(i: int, o: int, r: int) -> int:
    """LoKr on one linear layer: a full Kronecker factor and a second one, low-rank when that is smaller."""
    (in_m, in_n), (out_l, out_k) = _near_square(i), _near_square(o)
    second = r * (out_k + in_n) if r < max(out_k, in_n) / 2 else out_k * in_n
    return out_l * in_m + second


def _block_params(shape: ModelShape) -> int:
    """Weights of one transformer block (its linear layers and norms)."""
    without_blocks = parameter_count(dataclasses.replace(shape, layers=0))
    return (parameter_count(shape) - without_blocks) // max(shape.layers, 1)


def _adapted(shape: ModelShape, targets: list[str] | str | None) -> list[tuple[str, int, int]]:
    if targets in (None, "all-linear"):
        return shape.block_linears()
    return [
        (name, i, o)
        for name, i, o in shape.block_linears()
        if any(name == t or name.endswith(f".{t}") or t.endswith(f".{name}") for t in targets)
    ]


def _head_params(shape: ModelShape) -> int:
    return 0 if shape.tied_embeddings else shape.vocab_size * shape.hidden


def _oft_block(in_features: int, block: int) -> int:
    """The block size peft's OFT really uses: the divisor of ``in_features`` nearest ``block``."""
    if block >= in_features:
        return in_features
    higher = block
    while higher <= in_features and in_features % higher:
        higher += 1
    lower = block
    while lower > 1 and in_features % lower:
        lower -= 1
    return lower if block - lower <= higher - block else higher


def _oft_count(shape: ModelShape, own: dict) -> int:
    """OFT: b·(b−1)/2 skew-symmetric weights per block, in/b blocks per layer (one when shared)."""
    block, shared = own.get("block_size", 32), own.get("block_share", False)
    total = 0
    for _n, i, _o in _adapted(shape, own.get("target_modules")):
        b = _oft_block(i, block)
        total += b * (b - 1) // 2 * (1 if shared else i // b)
    return shape.layers * total


def _boft_count(shape: ModelShape, own: dict) -> int:
    """BOFT with one butterfly factor: in/b blocks of b×b weights, and a scale per output feature."""
    b = own.get("block_size", 4)
    return shape.layers * sum((i // b) * b * b + o for _n, i, o in _adapted(shape, own.get("target_modules")))


def _ln_count(shape: ModelShape, _own: dict) -> int:
    """LN tuning: every norm (two per block and the final or embedding one); LayerNorms have biases."""
    per_norm = 2 * shape.hidden if shape.family == "encoder" else shape.hidden
    return (2 * shape.layers + 1) * per_norm


NEWER_PEFT = {
    "oft": _oft_count,
    "boft": _boft_count,
    "fourierft": lambda shape, own: (
        shape.layers * own.get("n_frequency", 1000) * len(_adapted(shape, own.get("target_modules")))
    ),
    "miss": lambda shape, own: (
        shape.layers * sum(own.get("r", 64) * o for _n, _i, o in _adapted(shape, own.get("target_modules")))
    ),
    "ln_tuning": _ln_count,
}


def galore_state_values(shape: ModelShape, own: dict | None = None) -> int:
    """fp32 values GaLore-AdamW keeps: for each projected m×n weight two rank-r moments along its long
    side and the projector along its short side; plain AdamW's two moments for every other weight.
    transformers' "all-linear" projects the output head too."""
    own = own or {}
    rank, targets = own.get("rank", 128), own.get("target_modules", "all-linear")
    linears = [(i, o) for _n, i, o in _adapted(shape, targets)] * shape.layers
    if targets == "all-linear":
        linears.append((shape.hidden, shape.vocab_size))
    projected = sum(min(rank, i, o) * (2 * max(i, o) + min(i, o)) for i, o in linears)
    return projected + 2 * (parameter_count(shape) - sum(i * o for i, o in linears))


def sparse_budget(numel: int, density: float) -> int:
    """SpIEL's trained entries in a matrix of ``numel`` weights (``methods/sparse_delta.py`` uses it)."""
    return max(1, min(numel, round(density * numel)))


def _spiel_count(shape: ModelShape, own: dict) -> int:
    density = own.get("density", 0.01)
    linears = _adapted(shape, own.get("target_modules"))
    return shape.layers * sum(sparse_budget(i * o, density) for _n, i, o in linears)


def _hft_categories(shape: ModelShape) -> list[list[int]]:
    """Sizes of a block's parts in HFT's categories (``methods/hft.py: categories``): the attention
    matrices, the MLP's, and the single ones (the norms) together."""
    h = shape.hidden
    sizes = {name: i * o for name, i, o in shape.block_linears()}
    if shape.family == "encoder":
        bias = {name: o for name, _i, o in shape.block_linears()}
        full = {name: sizes[name] + bias[name] for name in sizes}
        attention = [full[n] for n in ("query", "key", "value", "attention.output.dense")] + [2 * h]
        return [attention, [full["output.dense"], 2 * h], [full["intermediate.dense"]]]
    return [
        [sizes[n] for n in ("q_proj", "k_proj", "v_proj", "o_proj")],
        [sizes[n] for n in ("gate_proj", "up_proj", "down_proj")],
        [h, h],
    ]


def _hft_count(shape: ModelShape, own: dict) -> int:
    """HFT: per block and category half the parts (an odd category's larger half in half the blocks).
    Where the parts differ in size (grouped-query attention) the draw decides; this is the most one
    can train, the largest parts drawn, which is what memory must allow for."""
    total = 0
    for sizes in _hft_categories(shape):
        largest = sorted(sizes, reverse=True)
        half = len(sizes) // 2
        total += shape.layers * sum(largest[:half])
        if len(sizes) % 2:
            total += (shape.layers // 2) * largest[half]
    embeddings = shape.vocab_size * shape.hidden if own.get("train_embeddings") else 0
    head = _head_params(shape) if own.get("train_head") else 0
    return total + embeddings + head


NEWER_PEFT["spiel"] = _spiel_count
NEWER_PEFT["hft"] = _hft_count

# Methods whose trained parameters are the model's own weights (no separate adapter to hold).
TRAINS_WEIGHTS = ("full", "galore", "hft")


def trainable_parameter_count(shape: ModelShape, method: str, params: dict | None = None) -> int:
    """Weights ``method`` trains on this model, from a job's params groups (``lora``, ``method_params``);
    missing values take the methods' defaults. Matches what peft reports for decoders (LoKr within
    its factorisation); for the LoRA family, as ``lora_parameter_count``."""
    lora, own = (params or {}).get("lora") or {}, (params or {}).get("method_params") or {}
    h, layers = shape.hidden, shape.layers
    if method in ("full", "mezo", "galore"):  # MeZO moves every weight, without gradients
        return parameter_count(shape)
    if method in ("lora", "loraplus", "qlora"):
        targets = lora.get("target_modules", "all-linear")
        count = lora_parameter_count(shape, lora.get("r", 8), targets)
        dora = layers * sum(o for _n, _i, o in _adapted(shape, targets)) if lora.get("use_dora") else 0
        return count + dora  # DoRA adds one magnitude per output feature
    if method == "adalora":
        r, linears = own.get("init_r", 12), _adapted(shape, own.get("target_modules"))
        return layers * sum(r * (i + o) + r for _n, i, o in linears)  # A, B and the singular values E
    if method in ("lokr", "loha"):
        r, linears = own.get("r", 8), _adapted(shape, own.get("target_modules"))
        per = (lambda i, o: _lokr_count(i, o, r)) if method == "lokr" else (lambda i, o: 2 * r * (i + o))
        return layers * sum(per(i, o) for _n, i, o in linears)
    if method == "vera":
        r, linears = own.get("r", 256), _adapted(shape, own.get("target_modules"))
        return layers * sum(r + o for _n, _i, o in linears)  # the d and b scaling vectors
    if method in NEWER_PEFT:
        return NEWER_PEFT[method](shape, own)
    if method == "ia3":
        names = (
            ("key", "value", "output.dense")
            if shape.family == "encoder"
            else ("k_proj", "v_proj", "down_proj")
        )
        ff = {"output.dense", "down_proj"}
        return layers * sum(i if n in ff else o for n, i, o in shape.block_linears() if n in names)
    if method == "prompt_tuning":
        return own.get("num_virtual_tokens", 20) * h
    if method == "prefix_tuning":
        tokens, per_token = own.get("num_virtual_tokens", 20), layers * 2 * h
        if not own.get("prefix_projection"):
            return tokens * per_token
        mlp = own.get("encoder_hidden_size", 512)
        return tokens * h + h * mlp + mlp + mlp * per_token + per_token
    if method == "freeze":
        head = _head_params(shape) if own.get("train_head") else 0
        return own.get("trainable_layers", 2) * _block_params(shape) + head
    if method == "lisa":
        embeddings = shape.vocab_size * h if own.get("train_embeddings", True) else 0
        head = _head_params(shape) if own.get("train_head", True) else 0
        return min(own.get("n_layers", 2), layers) * _block_params(shape) + embeddings + head
    if method == "bitfit":
        if shape.family != "encoder":
            return 0  # Llama-style decoders have no biases (the method refuses them)
        return layers * (sum(o for _n, _i, o in shape.block_linears()) + 2 * h)
    raise ValueError(f"no parameter count for method {method!r}")
