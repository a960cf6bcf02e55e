"""Each tensor-wise merge method against a reference computed here with plain torch on full state dicts."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import pytest
import torch

from tests.trainers.merge.conftest import Family, load_state, merge_spec, merged


def assert_states_close(got: dict, want: dict, atol: float = 1e-5) -> None:
    assert got.keys() == want.keys()
    for name in want:
        assert got[name].dtype == want[name].dtype, name
        torch.testing.assert_close(got[name], want[name], atol=atol, rtol=1e-5, msg=name)


def states(family: Family, n: int = 3) -> tuple[dict, list[dict]]:
    return load_state(family.base), [load_state(t) for t in family.tunes[:n]]


def test_linear_uniform_soup_is_the_mean(family: Family, tmp_path: Path) -> None:
    _, tunes = states(family)
    got = merged(merge_spec("linear", family.tunes, tmp_path / "out"))
    assert_states_close(got, {k: sum(t[k] for t in tunes) / 3 for k in tunes[0]})


def test_linear_weighted_soup_normalises_the_weights(family: Family, tmp_path: Path) -> None:
    _, tunes = states(family)
    weights = [3.0, 1.0, 0.5]
    got = merged(merge_spec("linear", list(zip(family.tunes, weights, strict=True)), tmp_path / "out"))
    want = {k: sum(w * t[k] for w, t in zip(weights, tunes, strict=True)) / sum(weights) for k in tunes[0]}
    assert_states_close(got, want)


def test_linear_without_normalize_takes_weights_summing_to_one_as_they_are(
    family: Family, tmp_path: Path
) -> None:
    _, tunes = states(family, 2)
    spec = merge_spec(
        "linear",
        [(family.tunes[0], 0.25), (family.tunes[1], 0.75)],
        tmp_path / "out",
        params={"normalize": False},
    )
    assert_states_close(merged(spec), {k: 0.25 * tunes[0][k] + 0.75 * tunes[1][k] for k in tunes[0]})


def test_linear_casts_to_the_requested_dtype(family: Family, tmp_path: Path) -> None:
    _, tunes = states(family, 2)
    got = merged(merge_spec("linear", family.tunes[:2], tmp_path / "out", dtype="bfloat16"))
    want = {k: ((tunes[0][k] + tunes[1][k]) / 2).to(torch.bfloat16) for k in tunes[0]}
    assert_states_close(got, want, atol=0)


def test_task_arithmetic_adds_scaled_task_vectors(family: Family, tmp_path: Path) -> None:
    base, tunes = states(family)
    weights, lam = [1.0, -0.5, 0.3], 0.8
    spec = merge_spec(
        "task_arithmetic",
        list(zip(family.tunes, weights, strict=True)),
        tmp_path / "out",
        base=family.base,
        params={"scaling": lam},
    )
    want = {
        k: base[k] + lam * sum(w * (t[k] - base[k]) for w, t in zip(weights, tunes, strict=True))
        for k in base
    }
    assert_states_close(merged(spec), want)


def ties_reference(base: dict, tunes: list[dict], weights: list[float], trim, normalize: bool) -> dict:
    """TIES as in the paper, vectorised over a stacked [models, ...] tensor."""
    out = {}
    for k, b in base.items():
        deltas = torch.stack([trim(t[k] - b) for t in tunes])
        w = torch.tensor(weights).view(-1, *[1] * b.dim())
        deltas = deltas * w
        elected = torch.where(deltas.sum(0) >= 0, 1.0, -1.0)
        agree = deltas.sign() == elected
        mixed = (deltas * agree).sum(0)
        if normalize:
            divisor = (w * agree).sum(0)
            mixed = mixed / torch.where(divisor == 0, 1.0, divisor)
        out[k] = b + mixed
    return out


def top_share(delta: torch.Tensor, density: float) -> torch.Tensor:
    k = max(1, int(density * delta.numel()))
    keep = torch.zeros(delta.numel())
    keep[delta.abs().flatten().argsort(descending=True)[:k]] = 1
    return delta * keep.view_as(delta)


@pytest.mark.parametrize("density", [0.2, 0.7, 1.0])
def test_ties_trims_elects_and_averages_what_agrees(family: Family, tmp_path: Path, density: float) -> None:
    base, tunes = states(family)
    weights = [1.0, 0.6, 0.9]
    spec = merge_spec(
        "ties",
        list(zip(family.tunes, weights, strict=True)),
        tmp_path / "out",
        base=family.base,
        params={"density": density},
    )
    want = ties_reference(base, tunes, weights, lambda d: top_share(d, density), normalize=True)
    assert_states_close(merged(spec), want)


def outlier_share(delta: torch.Tensor, density: float, gamma: float) -> torch.Tensor:
    n = delta.numel()
    keep_n, top = int(density * n), int(gamma * n)
    bottom = max(0, n - keep_n - top)
    keep = torch.zeros(n)
    keep[delta.abs().flatten().argsort()[bottom : bottom + keep_n]] = 1
    return delta * keep.view_as(delta)


def test_breadcrumbs_drops_outliers_and_small_changes(family: Family, tmp_path: Path) -> None:
    base, tunes = states(family, 2)
    density, gamma = 0.6, 0.1
    spec = merge_spec(
        "breadcrumbs",
        [(family.tunes[0], 0.7), (family.tunes[1], 0.5)],
        tmp_path / "out",
        base=family.base,
        params={"density": density, "gamma": gamma},
    )
    want = {
        k: base[k]
        + 0.7 * outlier_share(tunes[0][k] - base[k], density, gamma)
        + 0.5 * outlier_share(tunes[1][k] - base[k], density, gamma)
        for k in base
    }
    assert_states_close(merged(spec), want)


def test_breadcrumbs_ties_elects_signs(family: Family, tmp_path: Path) -> None:
    base, tunes = states(family)
    spec = merge_spec(
        "breadcrumbs_ties",
        family.tunes,
        tmp_path / "out",
        base=family.base,
        params={"density": 0.5, "gamma": 0.05},
    )
    want = ties_reference(base, tunes, [1.0] * 3, lambda d: outlier_share(d, 0.5, 0.05), normalize=False)
    assert_states_close(merged(spec), want)


def dare_reference(base: dict, tunes: list[dict], weights: list[float], density: float, seed: int) -> dict:
    """Drop with the documented per-tensor generator, rescale to the L1 norm, add up."""
    out = {}
    for k, b in base.items():
        digest = hashlib.sha256(f"{seed}:{k}".encode()).digest()
        generator = torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & (2**63 - 1))
        total = torch.zeros_like(b)
        for w, t in zip(weights, tunes, strict=True):
            delta = t[k] - b
            kept = delta * (torch.rand(b.shape, generator=generator) < density)
            total += w * kept * (delta.abs().sum() / kept.abs().sum())
        out[k] = b + total
    return out


def test_dare_linear_drops_at_random_and_rescales(family: Family, tmp_path: Path) -> None:
    base, tunes = states(family, 2)
    spec = merge_spec(
        "dare_linear",
        [(family.tunes[0], 0.6), (family.tunes[1], 0.4)],
        tmp_path / "out",
        base=family.base,
        params={"density": 0.3, "seed": 7},
    )
    got = merged(spec)
    assert_states_close(got, dare_reference(base, tunes, [0.6, 0.4], 0.3, seed=7), atol=1e-4)


def test_dare_keeps_about_density_of_each_change_and_the_seed_decides(family: Family, tmp_path: Path) -> None:
    base, tunes = states(family, 1)
    name = "model.layers.0.mlp.up_proj.weight"

    def kept_share(seed: int, out: str) -> tuple[float, torch.Tensor]:
        spec = merge_spec(
            "dare_linear",
            family.tunes[:1],
            tmp_path / out,
            base=family.base,
            params={"density": 0.25, "seed": seed, "rescale": False},
        )
        tensor = merged(spec)[name]
        return float(((tensor - base[name]) != 0).float().mean()), tensor

    share, first = kept_share(1, "a")
    again, repeat = kept_share(1, "b")
    _, other = kept_share(2, "c")
    assert abs(share - 0.25) < 0.03
    assert torch.equal(first, repeat) and not torch.equal(first, other)
    changed = first != base[name]
    torch.testing.assert_close(first[changed], tunes[0][name][changed])  # kept entries are untouched


def test_dare_ties_elects_signs_after_the_drop(family: Family, tmp_path: Path) -> None:
    base, tunes = states(family)
    spec = merge_spec(
        "dare_ties",
        family.tunes,
        tmp_path / "out",
        base=family.base,
        params={"density": 0.5, "seed": 3, "rescale": False},
    )
    got = merged(spec)
    for k, b in base.items():  # rebuild the drop masks, then TIES without normalisation
        digest = hashlib.sha256(f"3:{k}".encode()).digest()
        generator = torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & (2**63 - 1))
        masks = iter([torch.rand(b.shape, generator=generator) < 0.5 for _ in tunes])
        dropped = [{k: b + (t[k] - b) * next(masks)} for t in tunes]  # the drop, then TIES with no trim
        want = ties_reference({k: b}, dropped, [1.0] * 3, lambda d: d, False)
        torch.testing.assert_close(got[k], want[k], atol=1e-5, rtol=1e-5)


def slerp_reference(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    a64, b64 = a.double().flatten(), b.double().flatten()
    cos = float(a64 @ b64 / (a64.norm() * b64.norm()))
    if abs(cos) > 0.9995:
        return ((1 - t) * a64 + t * b64).view_as(a).float()
    theta = math.acos(cos)
    mixed = (math.sin((1 - t) * theta) * a64 + math.sin(t * theta) * b64) / math.sin(theta)
    return mixed.view_as(a).float()


def test_slerp_interpolates_on_the_sphere(family: Family, tmp_path: Path) -> None:
    _, tunes = states(family, 2)
    a = load_state(family.base)  # far enough from tune-0 in some tensors to take the spherical path
    other = {k: a[k] * 0.5 + torch.roll(tunes[0][k], 1) for k in a}
    from safetensors.torch import save_file

    from tests.trainers.merge.conftest import copy_support

    copy_support(family.base, tmp_path / "other")
    save_file(other, tmp_path / "other" / "model.safetensors", metadata={"format": "pt"})
    got = merged(merge_spec("slerp", [family.base, tmp_path / "other"], tmp_path / "out", params={"t": 0.3}))
    want = {k: slerp_reference(a[k], other[k], 0.3) for k in a}
    assert_states_close(got, want, atol=1e-5)
    name = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.allclose(got[name], 0.7 * a[name] + 0.3 * other[name], atol=1e-4)  # not a plain lerp


def test_slerp_ends_are_the_inputs(family: Family, tmp_path: Path) -> None:
    base, tunes = states(family, 1)
    at_zero = merged(merge_spec("slerp", [family.base, family.tunes[0]], tmp_path / "0", params={"t": 0.0}))
    at_one = merged(merge_spec("slerp", [family.base, family.tunes[0]], tmp_path / "1", params={"t": 1.0}))
    assert_states_close(at_zero, base)
    assert_states_close(at_one, tunes[0])


def test_sharded_bfloat16_inputs_merge_with_float32_ones(family: Family, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    sharded = tmp_path / "sharded-bf16"
    model = AutoModelForCausalLM.from_pretrained(family.tunes[1], dtype=torch.bfloat16)
    model.save_pretrained(sharded, max_shard_size="150KB")
    assert (sharded / "model.safetensors.index.json").is_file()
    tune0, tune1 = load_state(family.tunes[0]), load_state(sharded)
    assert all(t.dtype == torch.bfloat16 for t in tune1.values())
    got = merged(merge_spec("linear", [family.tunes[0], sharded], tmp_path / "out"))
    # "auto" keeps the first input's float32; the bfloat16 weights are widened before the sum
    assert_states_close(got, {k: (tune0[k] + tune1[k].float()) / 2 for k in tune0})
