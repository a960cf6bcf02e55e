"""Property-based fuzz of the doors added after the first hostile-input corpus (issue 23): the
OpenAI-compatible bodies (``fine_tuning/jobs``, ``chat/completions``, ``completions``) and the
job kinds ``sweep`` and ``curate`` through ``POST /api/v1/jobs``. Whatever JSON arrives, the
answer is never a 5xx; OpenAI routes answer errors in OpenAI's ``{"error": {...}}`` shape and
Hone's in problem+json. Chat bodies name a model the team cannot see or send messages that fail
validation, so no fuzz case loads a model (a valid one would be a generation, not a fuzz case).

Bounded and derandomised like tests/reliability/test_fuzz_inputs.py (counts in ``EXAMPLES``,
quoted in docs/reliability.md)."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import settings as fuzz_settings
from hypothesis import strategies as st

from api.openai_compat import ids
from tests.api.helpers import client_for
from tests.reliability.test_fuzz_inputs import any_text, values

EXAMPLES = {"fine_tuning": 80, "chat": 40, "sweep": 60, "curate": 40}
SEEN: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def _report_what_was_tried(request):
    yield
    terminal = request.config.pluginmanager.get_plugin("terminalreporter")
    if terminal is not None:
        terminal.write_line("")
        for name, count in sorted(SEEN.items()):
            terminal.write_line(f"fuzz: {count:5d}  {name}")


@pytest.fixture(autouse=True)
def _no_rate_limit(settings):
    settings.HONE_API_RATE = "1000000/min"


def _post(client, path: str, body, openai_shape: bool) -> None:
    text = json.dumps(body, allow_nan=True)
    response = client.generic(
        "POST", path, text.encode("utf-8", "surrogatepass"), content_type="application/json"
    )
    assert response.status_code < 500, (path, text[:300], response.content[:500])
    if response.status_code >= 400:
        if openai_shape:
            error = response.json()["error"]
            assert isinstance(error["message"], str) and error["message"], error
        else:
            assert response["Content-Type"].startswith("application/problem+json")
    SEEN[f"api: POST {path} answered {response.status_code // 100}xx"] += 1


DROP = object()  # a mutation that removes the field


def _leaf_paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _leaf_paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield from _leaf_paths(inner, (*prefix, i))


def _replaced(valid, path: tuple, new):
    if not path:
        return valid if new is DROP else new
    copy = json.loads(json.dumps(valid))
    parent = copy
    for step in path[:-1]:
        parent = parent[step]
    if new is DROP:
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return copy


def mutated(valid: dict):
    """A valid body, or one with one value anywhere in it replaced by anything (or removed): these
    get past the first checks and reach the launch path's rules, the spec and the job's creation."""
    paths = [p for p in _leaf_paths(valid) if p]
    return st.one_of(
        st.just(valid),
        st.builds(
            lambda path, new: _replaced(valid, path, new),
            st.sampled_from(paths),
            st.one_of(values, st.just(DROP)),
        ),
    )


def maybe(strategy):
    return st.one_of(strategy, values)


def hyperparameters():
    numbers = st.one_of(st.just("auto"), values, st.floats(allow_nan=True, allow_infinity=True))
    return st.fixed_dictionaries(
        {},
        optional={k: numbers for k in ["n_epochs", "batch_size", "learning_rate_multiplier", "beta"]},
    )


def methods():
    grader = st.fixed_dictionaries(
        {},
        optional={
            "type": st.sampled_from(["string_check", "multi", "python", "score_model", "\ud800"]),
            "operation": maybe(st.sampled_from(["eq", "ne", "like", "ilike"])),
            "input": maybe(st.sampled_from(["{{sample.output_text}}", "{{item.answer}}"])),
            "reference": maybe(st.sampled_from(["{{item.answer}}", "{{item.missing}}"])),
            "calculate_output": maybe(st.sampled_from(["a + b", "a * b", "__import__('os')", "a" * 5000])),
            "graders": values,
        },
    )
    return st.fixed_dictionaries(
        {"type": maybe(st.sampled_from(["supervised", "dpo", "reinforcement"]))},
        optional={
            "supervised": maybe(st.fixed_dictionaries({}, optional={"hyperparameters": hyperparameters()})),
            "dpo": maybe(st.fixed_dictionaries({}, optional={"hyperparameters": hyperparameters()})),
            "reinforcement": maybe(
                st.fixed_dictionaries(
                    {}, optional={"grader": maybe(grader), "hyperparameters": hyperparameters()}
                )
            ),
        },
    )


def fine_tuning_bodies(model: str, file: str):
    names = st.one_of(
        st.sampled_from([model, file, "ft:x:y", "", "\ud800", "file-0", "file-" + "9" * 5000]), values
    )
    return st.fixed_dictionaries(
        {"model": st.one_of(st.just(model), names), "training_file": st.one_of(st.just(file), names)},
        optional={
            "validation_file": names,
            "hyperparameters": maybe(hyperparameters()),
            "method": maybe(methods()),
            "suffix": st.one_of(any_text, values),
            "seed": st.one_of(st.integers(), st.just(10**4299), values),
            "metadata": st.one_of(st.dictionaries(any_text, any_text, max_size=20), values),
        },
    )


def chat_bodies():
    messages = st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                "role": maybe(st.sampled_from(["user", "system", "assistant", "tool"])),
                "content": values,
            },
        ),
        max_size=4,
    )
    return st.fixed_dictionaries(
        {"model": st.one_of(st.sampled_from(["model-0", "ft:none:none:none:0", "\ud800"]), values)},
        optional={
            "messages": maybe(messages),
            "prompt": values,
            "max_tokens": values,
            "temperature": st.one_of(values, st.floats(allow_nan=True, allow_infinity=True)),
            "top_p": values,
            "n": values,
            "stop": values,
            "stream": values,
            "seed": values,
            "stream_options": values,
        },
    )


def sweep_bodies(model_id: int, dataset_id: int):
    number = st.one_of(values, st.floats(allow_nan=True, allow_infinity=True), st.just(10**4299))
    dimension = st.one_of(
        st.fixed_dictionaries(
            {},
            optional={"low": number, "high": number, "log": values, "step": number, "choices": values},
        ),
        st.builds(
            lambda c: {"choices": c}, st.lists(st.one_of(st.sampled_from([2, 4, "lora", "full"]), values))
        ),
        values,
    )
    places = [
        "training.learning_rate",
        "lora.r",
        "method",
        "training.epochs",
        "lora.target_modules",
        "x.y",
        "\ud800",
    ]
    space = st.dictionaries(st.sampled_from(places), dimension, max_size=3)
    budget = st.fixed_dictionaries(
        {}, optional={k: number for k in ["trials", "parallel", "max_minutes", "gpu_hours"]}
    )
    return st.fixed_dictionaries(
        {"kind": st.just("sweep"), "base_model": st.just(model_id), "dataset": st.just(dataset_id)},
        optional={
            "space": maybe(space),
            "budget": maybe(budget),
            "sampler": maybe(st.sampled_from(["tpe", "random", "grid"])),
            "pruner": maybe(st.sampled_from(["median", "hyperband", "none"])),
            "metric": maybe(st.sampled_from(["eval/loss", "eval/macro_f1", "nope", "eval/" + "x" * 5000])),
            "direction": maybe(st.sampled_from(["minimize", "maximize"])),
            "seed": st.one_of(st.integers(), values),
            "method": maybe(st.sampled_from(["lora", "full", "dora"])),
            "params": maybe(st.fixed_dictionaries({}, optional={"training": values, "lora": values})),
            "name": any_text,
        },
    )


def curate_bodies(dataset_id: int):
    number = st.one_of(values, st.floats(allow_nan=True, allow_infinity=True))
    steps = st.fixed_dictionaries(
        {"budget": maybe(st.fixed_dictionaries({}, optional={"keep_rows": number, "keep_percent": number}))},
        optional={
            "dedup": maybe(
                st.fixed_dictionaries({}, optional={"near": values, "threshold": number, "num_perm": number})
            ),
            "quality": maybe(
                st.fixed_dictionaries({}, optional={"min_tokens": number, "max_tokens": number})
            ),
            "labels": maybe(st.fixed_dictionaries({}, optional={"action": values, "folds": number})),
            "diversity": maybe(st.fixed_dictionaries({}, optional={"method": values})),
            "seed": number,
            "chunk_rows": number,
        },
    )
    ids_ = st.one_of(st.just(dataset_id), values)
    return st.fixed_dictionaries(
        {"kind": st.just("curate"), "datasets": st.one_of(st.lists(ids_, max_size=3), values)},
        optional={
            "params": maybe(steps),
            "eval_set": ids_,
            "tokenizer_model": values,
            "embedding_model": values,
            "name": any_text,
        },
    )


def _run(strategy, examples: int, check) -> None:
    @fuzz_settings(max_examples=examples, deadline=None, derandomize=True, database=None)
    @given(body=strategy)
    def run(body):
        check(body)

    run()


@pytest.mark.django_db
def test_any_fine_tuning_job_body(member, team, tiny_model, dataset):
    api = client_for(member, team)
    model, file = ids.model_id(tiny_model), ids.of("file", dataset.pk)
    valid = {
        "model": model,
        "training_file": file,
        "suffix": "s",
        "seed": 3,
        "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 1, "batch_size": 2}}},
    }
    strategy = st.one_of(fine_tuning_bodies(model, file), mutated(valid))
    _run(
        strategy, EXAMPLES["fine_tuning"], lambda body: _post(api, "/openai/v1/fine_tuning/jobs", body, True)
    )


@pytest.mark.django_db
def test_any_chat_or_completion_body(member, team):
    api = client_for(member, team)

    def check(body):
        _post(api, "/openai/v1/chat/completions", body, True)
        _post(api, "/openai/v1/completions", body, True)

    _run(chat_bodies(), EXAMPLES["chat"], check)


@pytest.mark.django_db
def test_any_sweep_body(member, team, tiny_model, dataset):
    api = client_for(member, team)
    _run(
        sweep_bodies(tiny_model.pk, dataset.pk),
        EXAMPLES["sweep"],
        lambda body: _post(api, "/api/v1/jobs", body, False),
    )


@pytest.mark.django_db
def test_any_curate_body(member, team, dataset, tiny_model):
    api = client_for(member, team)
    valid = {
        "kind": "curate",
        "datasets": [dataset.pk],
        "tokenizer_model": tiny_model.pk,
        "params": {
            "budget": {"keep_percent": 30},
            "dedup": {"threshold": 0.9},
            "quality": {"max_tokens": 400},
        },
    }
    strategy = st.one_of(curate_bodies(dataset.pk), mutated(valid))
    _run(strategy, EXAMPLES["curate"], lambda body: _post(api, "/api/v1/jobs", body, False))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change, param",
    [
        ({"method": {"type": ["supervised"]}}, "method.type"),
        ({"method": {"type": {"a": 1}}}, "method.type"),
        ({"hyperparameters": {"n_epochs": 10**4299}}, "hyperparameters.n_epochs"),
        (
            {"hyperparameters": {"learning_rate_multiplier": 10**400}},
            "hyperparameters.learning_rate_multiplier",
        ),
    ],
    ids=["type a list", "type an object", "4300-digit epochs", "400-digit multiplier"],
)
def test_what_the_fuzz_found_is_a_400_at_its_param(member, team, tiny_model, dataset, change, param):
    """Found by test_any_fine_tuning_job_body: a 500 each (an unhashable method type; a number too
    large for a float)."""
    body = {"model": ids.model_id(tiny_model), "training_file": ids.of("file", dataset.pk), **change}
    response = client_for(member, team).post("/openai/v1/fine_tuning/jobs", body, format="json")
    assert response.status_code == 400, response.content[:500]
    error = response.json()["error"]
    assert error["param"] == param or error["param"].startswith(param.split(".")[0]), error
