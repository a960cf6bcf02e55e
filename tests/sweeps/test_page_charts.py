"""A sweep page's parameter-against-metric scatters (server-rendered SVG) and its trials table in
trial order or best first."""

from __future__ import annotations

import re

from jobs.sweeps.results import Summary, Trial
from jobs.web.sweep_charts import Dot, parameter_scatter
from jobs.web.sweep_page import _ordered, _scatters

PAIR, FOUR = ["q_proj", "v_proj"], ["q_proj", "k_proj", "v_proj", "o_proj"]
SPACE = {
    "training.learning_rate": {"low": 1e-5, "high": 1e-2, "log": True},
    "lora.target_modules": {"choices": [PAIR, FOUR]},
}


def trial(number: int, value: float | None, state: str, lr: float, modules: list) -> Trial:
    params = {"training.learning_rate": lr, "lora.target_modules": modules}
    return Trial(number=number, job=number + 10, job_status="", state=state, value=value, params=params)


def summary(direction: str = "minimize") -> Summary:
    trials = [
        trial(0, 0.9, "complete", 1e-5, PAIR),
        trial(1, 0.3, "complete", 1e-3, FOUR),
        trial(2, 2.0, "pruned", 1e-2, PAIR),
        trial(3, None, "running", 1e-4, FOUR),
    ]
    pick = min if direction == "minimize" else max
    best = pick(trials[:2], key=lambda t: t.value)
    return Summary(trials, None, best, {}, "eval/loss", direction, 0.0)


def circles(svg: str) -> list[dict[str, str]]:
    return [dict(re.findall(r'(\w+)="([^"]*)"', c)) for c in re.findall(r"<circle [^>]*/>", svg)]


def test_the_table_sorts_best_first_by_the_metrics_direction_with_no_value_last():
    assert [t.number for t in _ordered(summary(), by_metric=False)] == [0, 1, 2, 3]
    assert [t.number for t in _ordered(summary(), by_metric=True)] == [1, 0, 2, 3]
    assert [t.number for t in _ordered(summary("maximize"), by_metric=True)] == [2, 0, 1, 3]


def test_each_parameter_gets_a_scatter_of_the_trials_that_reported():
    learning_rate, modules = (str(svg) for svg in _scatters(summary(), SPACE))
    assert "training.learning_rate against eval/loss, 3 trials; best eval/loss 0.3 at 0.001" in learning_rate
    dots = circles(learning_rate)
    assert len(dots) == 4  # three trials (the running one has no value) and the best's ring
    assert [d["fill"] for d in dots[:3]] == ["#0072b2", "#0072b2", "none"]  # the pruned one is hollow
    xs = [float(d["cx"]) for d in dots[:3]]
    # log axis: 1e-5, 1e-3, 1e-2 are 3 and 1 decades apart
    assert abs((xs[1] - xs[0]) / (xs[2] - xs[1]) - 2.0) < 0.01
    assert "q_proj, k_proj, v_proj, o_proj" in modules and "q_proj, v_proj" in modules
    assert len({d["cx"] for d in circles(modules)[:3]}) == 2  # two choices, two columns


def test_a_scatter_with_no_reports_says_so():
    svg = str(parameter_scatter("lora.r", {"choices": [4, 8]}, [], metric="eval/loss", best=None))
    assert "No trial has reported yet" in svg and "no complete trial yet" in svg
    one = parameter_scatter(
        "lora.r", {"low": 2, "high": 8}, [Dot(4, 0.5, False)], metric="eval/loss", best=None
    )
    assert len(circles(str(one))) == 1  # a single value still has an axis to sit on
