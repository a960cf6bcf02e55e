"""The SVG line chart: well-formed, bounded in size, honest about missing data."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from jobs.web.charts import line_chart, nice_ticks

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))


def polyline_points(root: ET.Element) -> list[int]:
    return [len(line.get("points").split()) for line in root.iter(f"{SVG}polyline")]


def test_chart_is_well_formed_svg_with_title_axes_and_legend():
    root = parse(
        line_chart({"train/loss": [(1, 2.5), (2, 2.0), (3, 1.7)], "eval/loss": [(2, 2.2)]}, title="Loss")
    )
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    assert root.get("aria-label").startswith("Loss. train/loss: 1.7 at step 3; eval/loss: 2.2 at step 2")
    assert root.find(f"{SVG}title").text == root.get("aria-label")
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "train/loss" in texts and "eval/loss" in texts and "step" in texts
    assert polyline_points(root) == [3]
    assert len(list(root.iter(f"{SVG}circle"))) == 1  # a single point is drawn as a dot
    colours = {line.get("stroke") for line in root.iter(f"{SVG}polyline")} | {
        c.get("fill") for c in root.iter(f"{SVG}circle")
    }
    assert len(colours) == 2


def test_chart_escapes_series_names_and_title():
    root = parse(line_chart({"<b>&loss": [(1, 1.0), (2, 0.5)]}, title='a "quoted" <title>'))
    assert "<b>&loss" in [t.text for t in root.iter(f"{SVG}text")]
    assert root.get("aria-label").startswith('a "quoted" <title>.')


def test_empty_series_render_a_placeholder():
    for series in ({}, {"train/loss": []}):
        root = parse(line_chart(series, title="Loss"))
        assert "No data yet" in [t.text for t in root.iter(f"{SVG}text")]
        assert polyline_points(root) == []


def test_nan_and_infinite_values_are_skipped():
    points = [(1, 2.0), (2, math.nan), (3, math.inf), (4, -math.inf), (5, 1.0)]
    root = parse(line_chart({"train/loss": points}, title="Loss"))
    assert polyline_points(root) == [2]
    assert "nan" not in ET.tostring(root, encoding="unicode").lower()
    only_bad = parse(line_chart({"train/loss": [(1, math.nan)]}, title="Loss"))
    assert "No data yet" in [t.text for t in only_bad.iter(f"{SVG}text")]


def test_a_single_point_and_a_flat_line_have_a_usable_scale():
    for points in ([(7, 0.5)], [(1, 0.5), (2, 0.5), (3, 0.5)]):
        root = parse(line_chart({"train/loss": points}, title="Loss"))
        labels = [t.text for t in root.iter(f"{SVG}text")]
        assert "0.5" in labels


def test_nice_ticks_are_round_and_cover_the_range():
    assert nice_ticks(0, 100) == [0, 20, 40, 60, 80, 100]
    assert nice_ticks(0.13, 0.92) == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert nice_ticks(5, 5) == [5]
