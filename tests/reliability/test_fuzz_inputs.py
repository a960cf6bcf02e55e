"""Property-based fuzz of the upload readers and the API's JSON bodies (hypothesis).

Readers: whatever bytes arrive under whatever name, ``inspect_file`` returns a report or raises
DataError (nothing else), and what would be stored (the report, or the refusal) encodes as
UTF-8 JSON that PostgreSQL's jsonb accepts. Bodies: whatever JSON (or near-JSON) is POSTed to
jobs, models and webhooks, the answer is never a 5xx and always problem+json when it is an error.

Bounded: a fixed number of examples per property (``EXAMPLES``), no shrinking deadline; the
whole module runs in about half a minute here. HYPOTHESIS_PROFILE is not consulted on purpose:
CI runs exactly these counts, and docs/reliability.md quotes them.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as fuzz_settings
from hypothesis import strategies as st

from jobs.data.datasets import storable
from tests.api.helpers import client_for
from trainers.data import inspect_file
from trainers.formats import MB, DataError, ReadLimits
from trainers.text_checks import unstorable

EXAMPLES = {"bytes": 200, "jsonl": 150, "csv": 100, "parquet": 50, "jobs": 100, "models": 50, "webhooks": 50}
LIMITS = ReadLimits(row_bytes=MB, cell_bytes=MB, decoded_bytes=2 * MB, json_bytes=MB)
FIELDS = [
    "instruction",
    "input",
    "output",
    "text",
    "label",
    "prompt",
    "chosen",
    "rejected",
    "messages",
    "conversations",
    "response",
    "role",
    "content",
    "from",
    "value",
]
SEEN: Counter[str] = Counter()

# Any character, lone surrogates and NUL included (hypothesis leaves surrogates out by default).
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=30)
keys = st.one_of(st.sampled_from(FIELDS), any_text)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**63, -(2**63) - 1, 10**4299, -(10**4299)]),  # past int64, at Python's digit limit
    st.floats(allow_nan=True, allow_infinity=True),
    any_text,
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=12,
)
rows = st.lists(st.dictionaries(keys, values, max_size=5), min_size=0, max_size=6)
suffixes = st.sampled_from([".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet", ".pq", ""])


def _check(path: Path, name: str) -> None:
    """A report or a DataError, and either one storable as jsonb text."""
    try:
        stored = storable(inspect_file(path, name, limits=LIMITS).to_dict())
    except DataError as exc:
        stored = storable(str(exc))
    except (ValueError, OverflowError) as exc:  # an int too long to print: the 500 of item 4
        raise AssertionError(f"{name}: {type(exc).__name__}: {exc}") from None
    json.dumps(stored, allow_nan=False, ensure_ascii=False).encode("utf-8")
    assert not _unstorable_strings(stored), _unstorable_strings(stored)


def _unstorable_strings(value) -> list[str]:
    if isinstance(value, str):
        return [value] if unstorable(value) else []
    if isinstance(value, dict):
        return [s for pair in value.items() for part in pair for s in _unstorable_strings(part)]
    if isinstance(value, list):
        return [s for item in value for s in _unstorable_strings(item)]
    return []


@pytest.fixture(scope="module", autouse=True)
def _report_what_was_tried(request):
    """After the module: how many inputs each property tried (docs/reliability.md quotes them)."""
    yield
    terminal = request.config.pluginmanager.get_plugin("terminalreporter")
    if terminal is not None:
        terminal.write_line("")
        for name, count in sorted(SEEN.items()):
            terminal.write_line(f"fuzz: {count:5d}  {name}")


def _write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / "upload.bin"
    path.write_bytes(content)
    return path


@fuzz_settings(
    max_examples=EXAMPLES["bytes"],
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(content=st.binary(max_size=3000), suffix=suffixes)
def test_any_bytes_under_any_name(tmp_path, content, suffix):
    SEEN["upload: raw bytes"] += 1
    _check(_write(tmp_path, f"f{suffix}", content), f"f{suffix}")


@fuzz_settings(
    max_examples=EXAMPLES["jsonl"],
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=rows, as_array=st.booleans(), junk=st.sampled_from(["", "{", "]", "\ufeff", "\r\n", " 1e999"]))
def test_any_json_rows(tmp_path, data, as_array, junk):
    SEEN["upload: JSON and JSON Lines rows"] += 1
    if as_array:
        text, name = json.dumps(data) + junk, "d.json"
    else:
        text, name = "".join(json.dumps(row) + "\n" for row in data) + junk, "d.jsonl"
    _check(_write(tmp_path, name, text.encode("utf-8", "surrogatepass")), name)


@fuzz_settings(
    max_examples=EXAMPLES["csv"],
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    header=st.lists(st.one_of(st.sampled_from(FIELDS), any_text), min_size=1, max_size=4),
    cells=st.lists(st.lists(any_text, max_size=5), max_size=6),
    delimiter=st.sampled_from([",", "\t", ";"]),
)
def test_any_csv(tmp_path, header, cells, delimiter):
    SEEN["upload: CSV and TSV"] += 1
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter).writerows([header, *cells])
    name = "d.tsv" if delimiter == "\t" else "d.csv"
    _check(_write(tmp_path, name, out.getvalue().encode("utf-8", "surrogatepass")), name)


utf8_text = st.text(st.characters(codec="utf-8"), max_size=40)


@fuzz_settings(
    max_examples=EXAMPLES["parquet"],
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    columns=st.dictionaries(
        st.sampled_from(FIELDS),
        st.lists(st.one_of(st.none(), utf8_text), min_size=3, max_size=3),
        min_size=1,
        max_size=4,
    ),
    codec=st.sampled_from(["none", "snappy", "gzip", "zstd"]),
    cut=st.integers(min_value=0, max_value=64),
)
def test_any_parquet(tmp_path, columns, codec, cut):
    SEEN["upload: Parquet"] += 1
    out = io.BytesIO()
    pq.write_table(pa.table(columns), out, compression=codec)
    content = out.getvalue()
    content = content[: len(content) - cut] if cut else content  # a truncated file too
    _check(_write(tmp_path, "d.parquet", content), "d.parquet")


# --- the API's JSON bodies ----------------------------------------------------------------

JOB_FIELDS = [
    "base_model",
    "dataset",
    "objective",
    "method",
    "params",
    "name",
    "kind",
    "compute_profile",
    "models",
    "model",
    "candidate",
    "outputs",
    "calibration",
]


def job_bodies(model_id: int, dataset_id: int):
    ids = st.one_of(st.sampled_from([model_id, dataset_id, 0, -1, 2**63]), values)
    group = st.dictionaries(
        st.sampled_from(["r", "alpha", "epochs", "learning_rate", "seed", "init_text", "beta", "max_length"]),
        values,
        max_size=3,
    )
    params = st.dictionaries(
        st.sampled_from(["lora", "training", "method_params", "dpo", "prompt_tuning"]),
        st.one_of(group, values),
        max_size=3,
    )
    field_values = {"base_model": ids, "dataset": ids, "params": params, "model": ids, "candidate": ids}
    anything = st.fixed_dictionaries({}, optional={k: field_values.get(k, values) for k in JOB_FIELDS})
    # A valid body with random changes reaches deeper: the spec, the estimate, the job's creation.
    near_valid = st.builds(
        lambda params, extra: {"base_model": model_id, "dataset": dataset_id, "params": params, **extra},
        params,
        st.fixed_dictionaries(
            {},
            optional={
                "method": st.sampled_from(["lora", "prompt_tuning", "ia3", "\ud800"]),
                "objective": st.sampled_from(["sft", "pretrain", "dpo"]),
                "name": any_text,
            },
        ),
    )
    return st.one_of(anything, near_valid)


def _post(client, path: str, body) -> None:
    text = json.dumps(body, allow_nan=True)
    response = client.generic(
        "POST", path, text.encode("utf-8", "surrogatepass"), content_type="application/json"
    )
    assert response.status_code < 500, (path, text[:300], response.content[:500])
    if response.status_code >= 400:
        assert response["Content-Type"].startswith("application/problem+json")
    SEEN[f"api: POST {path} answered {response.status_code // 100}xx"] += 1


@pytest.fixture
def api(member, team):
    return client_for(member, team)


@pytest.mark.django_db
def test_any_job_body(api, tiny_model, dataset):
    @fuzz_settings(max_examples=EXAMPLES["jobs"], deadline=None, derandomize=True, database=None)
    @given(body=job_bodies(tiny_model.pk, dataset.pk))
    def run(body):
        _post(api, "/api/v1/jobs", body)

    run()


@pytest.mark.django_db
def test_any_model_and_webhook_body(owner, team, settings):
    settings.HONE_MODEL_DIRS, settings.HONE_MODEL_DIRS_REQUIRED = [], False
    client = client_for(owner, team)
    model_body = st.fixed_dictionaries(
        {},
        optional={k: st.one_of(any_text, values) for k in ["hub_id", "path", "name", "task", "description"]},
    )
    hook_body = st.fixed_dictionaries(
        {},
        optional={
            "url": st.one_of(
                any_text,
                st.sampled_from(
                    [
                        "http://[::7f00:1]/",
                        "http://[64:ff9b::a9fe:a9fe]/x",
                        "http://0/",
                        "http://[fe80::1%25lo]/",
                    ]
                ),
            ),
            "description": values,
        },
    )

    @fuzz_settings(max_examples=EXAMPLES["models"], deadline=None, derandomize=True, database=None)
    @given(body=model_body)
    def models(body):
        _post(client, "/api/v1/models", body)

    @fuzz_settings(max_examples=EXAMPLES["webhooks"], deadline=None, derandomize=True, database=None)
    @given(body=hook_body)
    def hooks(body):
        _post(client, "/api/v1/webhooks", body)

    models()
    hooks()
