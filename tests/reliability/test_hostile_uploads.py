"""The hostile half of the upload corpus (issue 23): escapes and encodings, compression and
decompression bombs, nesting, huge numbers, names. Each file goes through both doors (the
API and the browser form); each must be refused with the problem named, never a 5xx, with
storage byte-for-byte as it was before and no absolute server path in the answer.

The limits are lowered here (1 MB a row or a cell, 2 MB decoded, 1 MB of JSON array) so the
bombs stay small to build; bench/upload_bombs.py runs the full-size ones against the defaults.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs.models import Dataset
from tests.api.helpers import client_for

GOOD = {"instruction": "Reverse the word: cat", "input": "", "output": "tac"}
MB = 1024 * 1024


def jsonl(*rows: object) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def raw_lines(*lines: str) -> bytes:
    return "".join(line + "\n" for line in lines).encode("utf-8", "surrogatepass")


def parquet(table: pa.Table, **options) -> bytes:
    out = io.BytesIO()
    pq.write_table(table, out, **options)
    return out.getvalue()


def dictionary_bomb() -> bytes:
    """One 200 KB value, 64 rows: 12.5 MB once decoded, a few KB on disk."""
    value = pa.array(["w" * (200 * 1024)])
    column = pa.DictionaryArray.from_arrays(pa.array([0] * 64, pa.int32()), value)
    return parquet(pa.table({"text": column}), compression="zstd")


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


BIG_INT = "9" * 5000

# (case, filename, content, words the answer must contain)
HOSTILE = [
    # encodings and escapes
    (
        "\\u0000 escape in a field",
        "a.jsonl",
        raw_lines(json.dumps(GOOD), r'{"instruction": "a\u0000", "output": "b"}'),
        ["line 2", "NUL"],
    ),
    (
        "lone surrogate escape",
        "a.jsonl",
        raw_lines(r'{"instruction": "\ud800", "output": "b"}'),
        ["line 1", "surrogate"],
    ),
    (
        "lone low surrogate in chat content",
        "a.jsonl",
        raw_lines(
            r'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "\udfff"}]}'
        ),
        ["line 1", "surrogate"],
    ),
    ("raw NUL byte in a CSV cell", "a.csv", b"instruction,output\nhi,yo\nx\x00y,z\n", ["line 3", "NUL"]),
    ("raw NUL byte in a CSV header", "a.csv", b"instruction,out\x00put\nhi,yo\n", ["a.csv"]),
    (
        "NUL in a Parquet string",
        "a.parquet",
        parquet(pa.table({"instruction": ["a", "b"], "output": ["ok", "n\x00l"]})),
        ["row 2", "NUL"],
    ),
    (
        "NUL in a label",
        "a.jsonl",
        jsonl({"text": "a", "label": "x"}, {"text": "b", "label": "y\x00"}),
        ["line 2", "label"],
    ),
    ("overlong UTF-8 encoding of '/'", "a.jsonl", b'{"text": "\xc0\xaf"}\n', ["line 1", "UTF-8"]),
    ("UTF-32 text", "a.jsonl", jsonl(GOOD).decode().encode("utf-32"), ["UTF"]),
    ("CESU-8 surrogate bytes", "a.jsonl", b'{"text": "\xed\xa0\x80"}\n', ["line 1", "UTF-8"]),
    (
        "an output of zero-width spaces",
        "a.jsonl",
        jsonl(GOOD, {"instruction": "x", "output": "\u200b\u200b\ufeff"}),
        ["line 2", "output", "invisible"],
    ),
    (
        "chosen equals rejected",
        "a.jsonl",
        jsonl({"prompt": "p", "chosen": "same", "rejected": "same "}),
        ["line 1", "rejected", "same as 'chosen'"],
    ),
    (
        "one label for a classifier",
        "a.jsonl",
        jsonl({"text": "a", "label": "x"}, {"text": "b", "label": "x"}),
        ["same label"],
    ),
    # compression
    ("gzip bomb named .csv", "a.csv", gzip.compress(b"0" * (20 * MB)), ["compressed"]),
    ("bzip2 named .json", "a.json", bz2.compress(jsonl(GOOD) * 100), ["compressed"]),
    ("xz named .tsv", "a.tsv", lzma.compress(b"instruction\toutput\nx\ty\n"), ["compressed"]),
    ("zstd frame named .jsonl", "a.jsonl", b"(\xb5/\xfd" + bytes(64), ["compressed"]),
    ("an empty zip named .parquet", "a.parquet", b"PK\x05\x06" + bytes(18), ["compressed"]),
    (
        "zstd Parquet holding one 40 MB string",
        "a.parquet",
        parquet(pa.table({"text": ["x" * (40 * MB)]}), compression="zstd"),
        ["HONE_MAX_CELL_MB", "text"],
    ),
    (
        "gzip Parquet holding one 40 MB string",
        "a.parquet",
        parquet(pa.table({"text": ["y" * (40 * MB)]}), compression="gzip"),
        ["HONE_MAX_CELL_MB"],
    ),
    ("Parquet dictionary bomb", "a.parquet", dictionary_bomb(), ["HONE_MAX_DECODED_MB"]),
    ("a JSON line of 2 MB", "a.jsonl", jsonl({"text": "z" * (2 * MB)}), ["line 1", "HONE_MAX_ROW_MB"]),
    (
        "a quoted CSV cell of 1.5 MB over many lines",
        "a.csv",
        b'text\n"' + b"line\n" * (300 * 1024) + b'"\n',
        ["line 2", "HONE_MAX_CELL_MB"],
    ),
    (
        "a JSON array over the JSON limit",
        "a.json",
        json.dumps([{"text": "t" * 1000}] * 1100).encode(),
        ["JSON Lines", "HONE_MAX_JSON_MB"],
    ),
    # nesting
    ("a JSON line nested 50,000 deep", "a.jsonl", deep(50_000).encode() + b"\n", ["line 1", "nested"]),
    ("a field nested 5,000 deep", "a.jsonl", b'{"text": ' + deep(5000).encode() + b"}\n", ["line 1"]),
    ("a JSON array nested inside rows", "a.json", b'[{"text": ' + deep(20_000).encode() + b"}]", ["nested"]),
    # huge numbers
    (
        "a 5000-digit integer",
        "a.jsonl",
        jsonl(GOOD) + b'{"instruction": "x", "output": ' + BIG_INT.encode() + b"}\n",
        ["line 2", "4,300 digits"],
    ),
    (
        "a 5000-digit integer in a JSON array",
        "a.json",
        b'[{"text": "a", "label": ' + BIG_INT.encode() + b"}]",
        ["4,300 digits"],
    ),
    (
        "an infinite label",
        "a.jsonl",
        raw_lines('{"text": "a", "label": 1}', '{"text": "b", "label": 1e999}'),
        ["line 2", "label"],
    ),
    (
        "a NaN label",
        "a.jsonl",
        raw_lines('{"text": "a", "label": 1}', '{"text": "b", "label": NaN}'),
        ["line 2", "label"],
    ),
    ("a 5000-digit exponent", "a.jsonl", raw_lines('{"text": "b", "label": 1e' + BIG_INT + "}"), ["line 1"]),
    # names
    (
        "corrupt Parquet (the error must not show the spool path)",
        "a.parquet",
        b"PAR1" + b"\x01" * 300 + b"PAR1",
        ["a.parquet"],
    ),
    ("a name of only an extension", ".jsonl", jsonl({"text": "a"}), ["without an extension"]),
]


@pytest.fixture
def tight_limits(settings):
    settings.HONE_MAX_ROW_MB = settings.HONE_MAX_CELL_MB = settings.HONE_MAX_JSON_MB = 1
    settings.HONE_MAX_DECODED_MB = 2


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def message_of(response) -> str:
    if response.headers["Content-Type"].startswith("application/problem+json"):
        body = response.json()
        return " ".join([body["detail"], *(error["message"] for error in body["errors"])])
    return " ".join(str(e) for e in response.context["form"].errors.get("file", []))


@pytest.mark.parametrize("case, filename, content, words", HOSTILE, ids=[c[0] for c in HOSTILE])
def test_a_hostile_upload_is_refused_by_both_doors_and_leaves_storage_as_it_was(
    client, member, team, dataset, _storage, tight_limits, case, filename, content, words
):
    before = snapshot(_storage)
    api = client_for(member, team).post(
        "/api/v1/datasets", {"file": SimpleUploadedFile(filename, content)}, format="multipart"
    )
    client.force_login(member)
    page = client.post("/datasets/new/", {"name": "x", "file": SimpleUploadedFile(filename, content)})
    assert 400 <= api.status_code < 500, (case, api.status_code, api.content[:500])
    assert page.status_code == 200, case  # the form again, with the problem
    for response in (api, page):
        message = message_of(response)
        for word in words:
            assert word in message, f"{case}: {word!r} not in {message!r}"
        assert str(_storage) not in message and "/tmp/" not in message, message
    assert Dataset.objects.count() == 1  # the fixture's only
    assert snapshot(_storage) == before


def test_the_hostile_corpus_covers_every_family():
    assert len(HOSTILE) >= 30


def test_escaped_keys_and_emoji_are_stored_as_written(client, member):
    """Valid surrogate pairs are text; a lone surrogate or NUL in an ignored key is kept escaped."""
    client.force_login(member)
    rows = raw_lines(r'{"text": "\ud83d\ude00 ok", "\ud800x": 1, "a\u0000b": 2}', '{"text": "plain"}')
    assert client.post("/datasets/new/", {"file": SimpleUploadedFile("k.jsonl", rows)}).status_code == 302
    report = Dataset.objects.get().report
    assert report["preview"][0]["text"] == "\U0001f600 ok"
    assert set(report["columns"]) == {"text", "\\ud800x", "a\\u0000b"}


@pytest.mark.parametrize("length", [201, 230, 255, 300])
def test_long_file_names_keep_their_extension(client, member, length):
    client.force_login(member)
    name = "d" * (length - len(".jsonl")) + ".jsonl"
    response = client.post("/datasets/new/", {"file": SimpleUploadedFile(name, jsonl({"text": "a"}))})
    assert response.status_code == 302, message_of(response)
    stored = Dataset.objects.get()
    assert stored.filename.endswith(".jsonl") and len(stored.filename) == min(length, 255)


def test_tsv_and_pq_files_are_accepted(client, member):
    client.force_login(member)
    tsv = b"instruction\toutput\nSay hi\tHi!\n"
    assert client.post("/datasets/new/", {"file": SimpleUploadedFile("a.tsv", tsv)}).status_code == 302
    pq_bytes = parquet(pa.table({"text": ["a", "b"]}))
    assert client.post("/datasets/new/", {"file": SimpleUploadedFile("b.pq", pq_bytes)}).status_code == 302
    assert sorted(Dataset.objects.values_list("format", flat=True)) == ["csv", "parquet"]
