"""Pre-merge tokenizer checks: a different chat template or special token is refused before any work unless
tokenizer_source chooses whose the output keeps; a different vocabulary is refused whatever is chosen."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.trainers.merge.conftest import Family, merge_spec, run_merge_spec

OTHER_TEMPLATE = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}"


def with_template(tune: Path, target: Path, template: str = OTHER_TEMPLATE) -> Path:
    shutil.copytree(tune, target)
    (target / "chat_template.jinja").write_text(template)
    return target


def test_another_chat_template_is_refused_before_any_work(family: Family, tmp_path: Path) -> None:
    other = with_template(family.tunes[1], tmp_path / "other")
    result = run_merge_spec(merge_spec("linear", [family.tunes[0], other], tmp_path / "out"))
    assert result.code == 2
    assert "models[1] 'm1' has another chat template than models[0] 'm0'" in result.error
    assert "tokenizer_source" in result.error
    assert not result.of_kind("progress") and not (tmp_path / "out").exists()


def test_another_eos_token_is_named(family: Family, tmp_path: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(family.tunes[1], other)
    config = json.loads((other / "tokenizer_config.json").read_text())
    (other / "tokenizer_config.json").write_text(json.dumps(config | {"eos_token": "<pad>"}))
    result = run_merge_spec(merge_spec("linear", [family.tunes[0], other], tmp_path / "out"))
    assert result.code == 2 and "has another eos_token than models[0] 'm0'" in result.error


@pytest.mark.parametrize(("source", "template_of"), [(1, "other"), (0, "first"), ("base", "first")])
def test_tokenizer_source_picks_whose_tokenizer_the_output_keeps(
    family: Family, tmp_path: Path, source: object, template_of: str
) -> None:
    other = with_template(family.tunes[1], tmp_path / "other")
    spec = merge_spec(
        "task_arithmetic",
        [family.tunes[0], other],
        tmp_path / "out",
        base=family.base,
        tokenizer_source=source,
    )
    result = run_merge_spec(spec)
    assert result.code == 0, result.error
    want = OTHER_TEMPLATE if template_of == "other" else (family.base / "chat_template.jinja").read_text()
    assert (tmp_path / "out" / "chat_template.jinja").read_text() == want
    assert json.loads((tmp_path / "out" / "hone_merge.json").read_text())["tokenizer_source"] == source


def test_a_different_vocabulary_is_refused_even_with_a_tokenizer_source(
    family: Family, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    shutil.copytree(family.tunes[1], other)
    data = json.loads((other / "tokenizer.json").read_text())
    vocab = data["model"]["vocab"]
    first, second = sorted(vocab, key=vocab.get)[10:12]
    vocab[first], vocab[second] = vocab[second], vocab[first]
    (other / "tokenizer.json").write_text(json.dumps(data))
    spec = merge_spec("linear", [family.tunes[0], other], tmp_path / "out", tokenizer_source=0)
    result = run_merge_spec(spec)
    assert result.code == 2 and "models[1] 'm1' uses a different tokenizer: token id" in result.error


@pytest.mark.parametrize(
    ("source", "words"),
    [(5, "tokenizer_source 5 is not a model's index; give 0 to 1"), ("base", "no base_model")],
)
def test_a_tokenizer_source_that_names_no_input_is_refused(
    family: Family, tmp_path: Path, source: object, words: str
) -> None:
    spec = merge_spec("linear", family.tunes[:2], tmp_path / "out", tokenizer_source=source)
    result = run_merge_spec(spec)
    assert result.code == 2 and words in result.error
