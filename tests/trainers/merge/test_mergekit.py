"""Hone's merges equal mergekit's for the same inputs and configuration.

mergekit is a test-only dependency (the dev extras); it brings no torch of its own.

DARE draws its random masks differently from mergekit (a generator per tensor instead of one
global stream), so DARE is compared at density 1, where no entry is dropped, and checked against
an independent reference in test_methods.py otherwise.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.trainers.merge.conftest import Family, load_state, merge_spec, merged

pytestmark = pytest.mark.filterwarnings("ignore:numpy.core is deprecated:DeprecationWarning")

# (hone method, hone params, mergekit method, mergekit global parameters, per-model weights, density?)
CASES = [
    ("linear", {}, "linear", {}, [1.0, 2.0, 0.5], False),
    ("task_arithmetic", {"scaling": 0.7}, "task_arithmetic", {"lambda": 0.7}, [1.0, -0.4, 0.6], False),
    ("ties", {"density": 0.4}, "ties", {}, [1.0, 0.5, 0.8], True),
    ("ties", {"density": 0.7, "normalize": False}, "ties", {"normalize": False}, [1.0, 0.5, 0.8], True),
    ("breadcrumbs", {"density": 0.7, "gamma": 0.05}, "breadcrumbs", {}, [0.6, 0.4, 0.5], True),
    ("breadcrumbs_ties", {"density": 0.5, "gamma": 0.02}, "breadcrumbs_ties", {}, [1.0, 1.0, 1.0], True),
    ("dare_linear", {"density": 1.0}, "dare_linear", {}, [0.7, 0.3, 0.5], True),
    ("dare_ties", {"density": 1.0}, "dare_ties", {}, [0.7, 0.3, 0.5], True),
]


def run_mergekit(config: dict, out: Path) -> dict[str, torch.Tensor]:
    from mergekit.config import MergeConfiguration
    from mergekit.merge import run_merge
    from mergekit.options import MergeOptions

    options = MergeOptions(quiet=True, copy_tokenizer=False, write_model_card=False, random_seed=0)
    run_merge(MergeConfiguration.model_validate(config), str(out), options)
    return load_state(out)


def mergekit_models(
    paths: list[Path], weights: list[float], density: float | None, gamma: float | None
) -> list:
    models = []
    for path, weight in zip(paths, weights, strict=True):
        parameters = {"weight": weight}
        if density is not None:
            parameters["density"] = density
        if gamma is not None:
            parameters["gamma"] = gamma
        models.append({"model": str(path), "parameters": parameters})
    return models


@pytest.mark.parametrize(("method", "params", "mk_method", "mk_params", "weights", "sparse"), CASES)
def test_hone_equals_mergekit(
    family: Family,
    tmp_path: Path,
    method: str,
    params: dict,
    mk_method: str,
    mk_params: dict,
    weights: list[float],
    sparse: bool,
) -> None:
    needs_base = method != "linear"
    density, gamma = (params.get("density") if sparse else None), params.get("gamma")
    config = {
        "merge_method": mk_method,
        "models": mergekit_models(family.tunes, weights, density, gamma),
        "dtype": "float32",
        **({"base_model": str(family.base)} if needs_base else {}),
        **({"parameters": mk_params} if mk_params else {}),
    }
    theirs = run_mergekit(config, tmp_path / "mergekit")
    spec = merge_spec(
        method,
        list(zip(family.tunes, weights, strict=True)),
        tmp_path / "hone",
        params=params,
        **({"base": family.base} if needs_base else {}),
    )
    ours = merged(spec)
    assert ours.keys() == theirs.keys()
    for name in theirs:
        torch.testing.assert_close(ours[name], theirs[name], atol=2e-6, rtol=1e-5, msg=name)


def test_slerp_equals_mergekit(family: Family, tmp_path: Path) -> None:
    config = {
        "merge_method": "slerp",
        "base_model": str(family.base),
        "models": [{"model": str(family.base)}, {"model": str(family.tunes[0])}],
        "parameters": {"t": 0.35},
        "dtype": "float32",
    }
    theirs = run_mergekit(config, tmp_path / "mergekit")
    ours = merged(merge_spec("slerp", [family.base, family.tunes[0]], tmp_path / "hone", params={"t": 0.35}))
    for name in theirs:
        torch.testing.assert_close(ours[name], theirs[name], atol=2e-6, rtol=1e-5, msg=name)
