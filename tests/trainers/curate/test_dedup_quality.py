"""Duplicates (exact, near, across inputs, against an evaluation set) and quality filters, end to end."""

from __future__ import annotations

import pytest

from trainers.spec import SpecError, parse_spec

STORY = (
    "The lighthouse keeper climbed the spiral stairs every evening at dusk, trimmed the wick, "
    "polished the great lens until it shone, and watched the fishing boats come home across the bay"
)


def texts(*values: str) -> list[dict]:
    return [{"text": value} for value in values]


def test_exact_duplicates_are_found_after_normalising_within_and_across_inputs(curate):
    first = texts("Hello, World!", "a different sentence about rivers and hills", "hello world")
    second = texts("HELLO   world.", "yet another unrelated line of text here")
    result = curate([first, second], dedup={"near": False})
    assert result.reasons() == ["kept", "kept", "exact_duplicate", "exact_duplicate", "kept"]
    assert result.table[3]["detail"] == "100% like datasets[0] row 0"
    assert [row["text"] for row in result.rows] == [first[0]["text"], first[1]["text"], second[1]["text"]]


def test_near_duplicates_are_found_with_minhash_and_distinct_rows_kept(curate):
    near = STORY.replace("every evening", "each evening")  # one word of 33 changed
    other = "Quarterly revenue rose four percent as the company opened two new warehouses in the north"
    result = curate([texts(STORY, near, other)], dedup={"exact": True, "near": True, "threshold": 0.7})
    assert result.reasons() == ["kept", "near_duplicate", "kept"]
    assert 0.7 <= result.table[1]["similarity"] < 1.0


def test_rows_in_the_evaluation_set_are_dropped_as_contamination(curate):
    result = curate(
        [texts(STORY, "an honest training sentence that appears nowhere else at all")],
        eval_rows=texts(STORY.upper() + "!"),
        dedup={},
    )
    assert result.reasons() == ["contaminated", "kept"]
    assert result.table[0]["detail"].endswith("eval_set row 0")
    assert result.summary["reasons"][1]["reason"] == "contaminated"


def test_quality_filters_length_repetition_and_empty_answers(curate):
    rows = [
        {"instruction": "Name a colour.", "output": "Blue is a colour people often name first."},
        {"instruction": "Say something.", "output": "..."},
        {"instruction": "Loop", "output": "buy now " * 20},
        {"instruction": "Short", "output": "ok"},
        {"instruction": "Tell a story. " * 20, "output": "Once upon a time."},
    ]
    result = curate([rows], quality={"min_tokens": 4, "max_tokens": 60, "max_repetition": 0.5})
    assert result.reasons() == ["kept", "empty_answer", "repetitive", "too_short", "too_long"]
    assert result.table[0]["tokens"] == 11  # words: no tokenizer given
    assert result.summary["kept_rows"] == 1 and result.summary["dropped_rows"] == 4


def test_truncated_answers_are_dropped_when_asked(curate):
    rows = [
        {"instruction": "Explain rain.", "output": "Water evaporates, rises, cools into clouds and falls as"},
        {"instruction": "Code?", "output": "```python\nprint('hi')"},
        {"instruction": "Explain snow.", "output": "Water vapour freezes into crystals that fall as snow."},
    ]
    result = curate([rows], quality={"drop_truncated": True, "max_repetition": None})
    assert result.reasons() == ["truncated_answer", "truncated_answer", "kept"]


def test_the_budget_keeps_a_seeded_random_sample_and_says_so(curate):
    rows = texts(*[f"row number {i} says something different about topic {i * 7}" for i in range(40)])
    result = curate([rows], budget={"keep_rows": 10}, seed=3)
    assert result.reasons().count("kept") == 10 and result.reasons().count("over_budget") == 30
    assert result.summary["budget"] == {"keep_rows": 10, "target_rows": 10}
    again = curate([rows], budget={"keep_rows": 10}, seed=3)
    assert again.rows == result.rows


def test_progress_is_reported_per_chunk_up_to_the_total(curate):
    rows = texts(*[f"line {i} of a longer file with distinct words {i}" for i in range(35)])
    result = curate([rows], dedup={})
    progress = [e for e in result.events if e["kind"] == "progress"]
    assert len(progress) >= 4  # 4 chunks of 10 while scoring, then the later phases
    assert progress[-1]["step"] == progress[-1]["total"] == 35 * 3
    assert [e["name"] for e in result.events if e["kind"] == "artifact"] == ["curated", "scores", "summary"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"budget": {}}, "budget: give exactly one of keep_rows or keep_percent"),
        ({"budget": {"keep_rows": 5, "keep_percent": 10}}, "give exactly one"),
        ({"labels": {}}, "label problems are found in classification data"),
        (
            {"eval_set": {"path": "/e", "sha256": "0" * 64, "format": "jsonl", "task": "chat"}},
            "eval_set: holds chat",
        ),
        ({"quality": {"min_tokens": 9, "max_tokens": 3}}, "min_tokens (9) is above max_tokens (3)"),
        ({"quality": {"languages": ["en", "english"]}}, "languages: english not a language code"),
    ],
)
def test_the_spec_refuses_what_cannot_run(change, message):
    spec = {
        "kind": "curate",
        "job_id": 1,
        "attempt": 1,
        "output_dir": "/o",
        "budget": {"keep_rows": 3},
        "datasets": [{"path": "/d", "sha256": "0" * 64, "format": "jsonl", "task": "text"}],
    }
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_spec(spec | change)


def test_rows_in_other_languages_are_dropped_with_the_detected_language(curate):
    rows = texts(
        "The lighthouse keeper climbed the stairs every evening and polished the great lens",
        "Der Leuchtturmwärter stieg jeden Abend die Treppe hinauf und putzte die große Linse",
        "Le gardien du phare montait l'escalier chaque soir et polissait la grande lentille",
        "ok",  # too short to say: kept, its low-confidence guess recorded
    )
    result = curate([rows], quality={"languages": ["en", "fr"], "max_repetition": None})
    assert result.reasons() == ["kept", "wrong_language", "kept", "kept"]
    assert [row["language"] for row in result.table[:3]] == ["en", "de", "fr"]
    assert (
        result.table[1]["detail"].startswith("detected de (")
        and "not one of en, fr" in result.table[1]["detail"]
    )
    assert result.summary["reasons"][-1]["words"] == "not in the chosen languages"


def test_the_language_codes_are_the_detectors_own():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    from trainers.curate.language import LANGUAGES

    assert set(LanguageIdentifier.from_model_file(MODEL_FILE).labels) == LANGUAGES
