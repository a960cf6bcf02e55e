"""Model Stock, SCE, Karcher, NuSLERP and DELLA equal mergekit's for the same inputs and configuration.

The deterministic methods are compared end to end (mergekit's run_merge against a Hone merge job).
DELLA draws at random: mergekit draws from torch's global generator across its whole run, Hone from
a generator per tensor, so whole merges cannot agree; instead each tensor is merged by both with
the same generator state (mergekit's own ``merge_group`` after ``torch.manual_seed(s)``, Hone's
function with ``Generator().manual_seed(s)``), which must agree exactly, and a whole DELLA job
is checked for the keep rate its density and epsilon promise.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.trainers.merge.conftest import Family, load_state, merge_spec, merged
from tests.trainers.merge.test_mergekit import run_mergekit

pytestmark = pytest.mark.filterwarnings("ignore:numpy.core is deprecated:DeprecationWarning")

ATOL = 1e-5


def assert_equal_states(ours: dict, theirs: dict) -> None:
    assert ours.keys() == theirs.keys()
    for name in theirs:
        torch.testing.assert_close(ours[name], theirs[name], atol=ATOL, rtol=1e-5, msg=name)


def mergekit_config(method: str, models: list, base: Path | None, **parameters: object) -> dict:
    return {
        "merge_method": method,
        "models": models,
        "dtype": "float32",
        **({"base_model": str(base)} if base else {}),
        **({"parameters": parameters} if parameters else {}),
    }


@pytest.mark.parametrize("filter_wise", [False, True])
def test_model_stock_equals_mergekit(family: Family, tmp_path: Path, filter_wise: bool) -> None:
    models = [{"model": str(t)} for t in family.tunes]
    theirs = run_mergekit(
        mergekit_config("model_stock", models, family.base, filter_wise=filter_wise), tmp_path / "mk"
    )
    spec = merge_spec(
        "model_stock", family.tunes, tmp_path / "hone", base=family.base, params={"filter_wise": filter_wise}
    )
    assert_equal_states(merged(spec), theirs)


@pytest.mark.parametrize("select_topk", [1.0, 0.3])
def test_sce_equals_mergekit(family: Family, tmp_path: Path, select_topk: float) -> None:
    models = [{"model": str(t)} for t in family.tunes]
    theirs = run_mergekit(
        mergekit_config("sce", models, family.base, select_topk=select_topk), tmp_path / "mk"
    )
    spec = merge_spec(
        "sce", family.tunes, tmp_path / "hone", base=family.base, params={"select_topk": select_topk}
    )
    assert_equal_states(merged(spec), theirs)


def test_karcher_equals_mergekit(family: Family, tmp_path: Path) -> None:
    models = [{"model": str(t)} for t in family.tunes]
    theirs = run_mergekit(mergekit_config("karcher", models, None, max_iter=20, tol=1e-6), tmp_path / "mk")
    spec = merge_spec("karcher", family.tunes, tmp_path / "hone", params={"max_iter": 20, "tol": 1e-6})
    assert_equal_states(merged(spec), theirs)


@pytest.mark.parametrize(
    ("with_base", "params"),
    [
        (False, {}),
        (True, {}),
        (False, {"nuslerp_flatten": False, "nuslerp_row_wise": True}),
        (True, {"nuslerp_flatten": False}),
    ],
)
def test_nuslerp_equals_mergekit(family: Family, tmp_path: Path, with_base: bool, params: dict) -> None:
    weights = [0.7, 0.3]
    models = [
        {"model": str(t), "parameters": {"weight": w}} for t, w in zip(family.tunes[:2], weights, strict=True)
    ]
    base = family.base if with_base else None
    theirs = run_mergekit(mergekit_config("nuslerp", models, base, **params), tmp_path / "mk")
    spec = merge_spec(
        "nuslerp",
        list(zip(family.tunes[:2], weights, strict=True)),
        tmp_path / "hone",
        params=params,
        **({"base": family.base} if with_base else {}),
    )
    assert_equal_states(merged(spec), theirs)


def mergekit_della(method: str) -> object:
    from mergekit.merge_methods import registry

    return registry.get(method)


@pytest.mark.parametrize(("method", "normalize"), [("della", True), ("della_linear", False)])
def test_della_draws_mergekits_masks_from_the_same_generator_state(
    family: Family, method: str, normalize: bool
) -> None:
    from mergekit.merge_methods.base import TensorGroup

    from trainers.merge import registry

    ours = registry.get(method)
    params = ours.params.model_validate({"density": 0.4, "epsilon": 0.2, "scaling": 0.9})
    base, tunes = load_state(family.base), [load_state(t) for t in family.tunes]
    weights = [1.0, 0.6, 0.8]
    for seed, name in enumerate(
        ["model.layers.0.self_attn.q_proj.weight", "model.norm.weight", "lm_head.weight"]
    ):
        group = TensorGroup.from_tensors([base[name], *(t[name] for t in tunes)], base_index=0)
        ids = [entry.id for entry in group.non_base]
        torch.manual_seed(seed)
        theirs = mergekit_della(method).merge_group(
            group,
            density=dict.fromkeys(ids, 0.4),
            epsilon=dict.fromkeys(ids, 0.2),
            weight=dict(zip(ids, weights, strict=True)),
            rescale=True,
            normalize=normalize,
            int8_mask=False,
            **{"lambda": 0.9},
        )
        mine = ours.merge_tensor(
            [t[name].clone() for t in tunes], base[name], weights, params, torch.Generator().manual_seed(seed)
        )
        torch.testing.assert_close(mine, theirs, atol=ATOL, rtol=1e-5, msg=name)


def test_della_keeps_large_changes_more_often_at_the_promised_rate(family: Family, tmp_path: Path) -> None:
    """One fine-tune, della_linear without rescale: each entry is the base's or the fine-tune's, and the
    share kept rises from density − ε for the smallest changes to density + ε for the largest."""
    spec = merge_spec(
        "della_linear",
        [family.tunes[0]],
        tmp_path / "out",
        base=family.base,
        params={"density": 0.5, "epsilon": 0.3, "rescale": False, "seed": 7},
    )
    out, base, tune = merged(spec), load_state(family.base), load_state(family.tunes[0])
    name = "model.layers.0.mlp.up_proj.weight"  # [128, 64]
    delta, kept = (tune[name] - base[name]), (out[name] != base[name])
    assert torch.equal(out[name][kept], tune[name][kept])
    order = delta.abs().argsort(dim=1)
    small, large = kept.gather(1, order[:, :16]).float().mean(), kept.gather(1, order[:, -16:]).float().mean()
    # 128 × 16 draws each: the smallest sixteenth have chance ≈ 0.2-0.26, the largest ≈ 0.74-0.8 (±0.04 at 4σ)
    assert 0.15 < small < 0.32 and 0.68 < large < 0.85, (small, large)
    assert abs(kept.float().mean() - 0.5) < 0.02
