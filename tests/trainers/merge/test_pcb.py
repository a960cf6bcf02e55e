"""PCB merging (mergekit has none): against the authors' PCB_merge written out here from the paper, and
its defining properties — each model keeps its pcb_ratio share, conflicts score low, the result is a
score-weighted average of the (clamped) changes."""

from __future__ import annotations

from pathlib import Path

import torch

from tests.trainers.merge.conftest import Family, load_state, merge_spec, merged
from trainers.merge.pcb import pcb_scores


def authors_pcb(deltas: torch.Tensor, ratio: float, clamp_ratio: float) -> torch.Tensor:
    """PCB_merge of duguodong7/pcb-merging on [N, d] task vectors, with full sorts as there."""

    def normalize(x: torch.Tensor) -> torch.Tensor:
        low, high = x.min(dim=1, keepdim=True).values, x.max(dim=1, keepdim=True).values
        return (x - low) / (high - low)

    def clamp(x: torch.Tensor, min_ratio: float, max_ratio: float) -> torch.Tensor:
        d = x.size(1)
        ordered = torch.sort(x, dim=1).values
        return torch.clamp(
            x,
            ordered[:, int(d * min_ratio)].unsqueeze(1),
            ordered[:, int(d * (1 - max_ratio) - 1)].unsqueeze(1),
        )

    n = deltas.shape[0]
    magnitude = clamp(deltas.abs(), clamp_ratio, clamp_ratio)
    clamped = deltas.sign() * magnitude
    score = torch.exp(n * normalize(magnitude) ** 2) * torch.tanh(deltas * deltas.sum(dim=0))
    scale = normalize(clamp(score, 1 - ratio, 0))
    return (clamped * scale).sum(dim=0) / scale.sum(dim=0).clamp(min=1e-12)


def test_pcb_equals_the_authors_formula_tensor_by_tensor(family: Family, tmp_path: Path) -> None:
    params = {"pcb_ratio": 0.2, "clamp_ratio": 0.01, "scaling": 1.3}
    out = merged(merge_spec("pcb", family.tunes, tmp_path / "out", base=family.base, params=params))
    base, tunes = load_state(family.base), [load_state(t) for t in family.tunes]
    for name, b in base.items():
        if b.numel() < 2:
            continue
        deltas = torch.stack([(t[name] - b).reshape(-1) for t in tunes])
        want = b + 1.3 * authors_pcb(deltas, 0.2, 0.01).reshape(b.shape)
        torch.testing.assert_close(out[name], want, atol=1e-6, rtol=1e-5, msg=name)


def test_each_model_keeps_its_pcb_ratio_share_of_changes() -> None:
    deltas = torch.randn(3, 10_000, generator=torch.Generator().manual_seed(0)) * 0.01
    _, scale = pcb_scores(deltas, 1e-4, 0.3)
    kept = (scale > 0).float().mean(dim=1)
    assert torch.allclose(kept, torch.full((3,), 0.3), atol=1e-3), kept


def test_a_change_against_the_others_weighs_less_than_one_with_them() -> None:
    # Entry 0: all three agree; entry 1: model 2 pulls against the other two, with the same magnitude.
    deltas = torch.tensor([[0.5, 0.5, 0.1, 0.2], [0.5, 0.5, 0.3, 0.1], [0.5, -0.5, 0.2, 0.3]])
    _, scale = pcb_scores(deltas, 0.0, 1.0)
    assert scale[2, 1] < scale[2, 0]
    assert scale[2, 1] == 0  # the lowest score of its row, scaled to 0


def test_identical_fine_tunes_give_that_fine_tune(family: Family, tmp_path: Path) -> None:
    same = [family.tunes[0]] * 3
    out = merged(
        merge_spec(
            "pcb", same, tmp_path / "out", base=family.base, params={"pcb_ratio": 0.5, "clamp_ratio": 0}
        )
    )
    base, tune = load_state(family.base), load_state(family.tunes[0])
    for name in base:
        kept = out[name] != base[name]
        # Where any score survives the result is the shared change itself; elsewhere it stays the base.
        torch.testing.assert_close(out[name][kept], tune[name][kept], atol=1e-6, rtol=1e-5, msg=name)
        if base[name].numel() > 1:
            assert 0.4 < kept.float().mean() < 0.6, name


def test_the_result_lies_between_the_models_changes_or_stays_at_the_base(
    family: Family, tmp_path: Path
) -> None:
    out = merged(
        merge_spec("pcb", family.tunes, tmp_path / "out", base=family.base, params={"clamp_ratio": 0})
    )
    base, tunes = load_state(family.base), [load_state(t) for t in family.tunes]
    for name, b in base.items():
        deltas = torch.stack([t[name] - b for t in tunes])
        change = out[name] - b
        inside = (change >= deltas.min(dim=0).values - 1e-6) & (change <= deltas.max(dim=0).values + 1e-6)
        # An entry every model dropped (all scores 0) stays at the base.
        assert (inside | (change == 0)).all(), name
        assert inside.float().mean() > 0.1, name
