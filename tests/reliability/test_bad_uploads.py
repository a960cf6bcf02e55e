"""The bad-input corpus for uploads: every malformed file gets a clear answer naming where the
problem is, and nothing is stored: no Dataset row, no file left in storage. No 5xx, ever."""

from __future__ import annotations

import csv
import gzip
import io
import json
import zipfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs.models import Dataset

GOOD = {"instruction": "Reverse the word: cat", "input": "", "output": "tac"}


def jsonl(*rows: object) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def csv_bytes(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


def parquet(table: pa.Table) -> bytes:
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def zipped(name: str, content: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(name, content)
    return out.getvalue()


# (case, filename, content, words the answer must contain)
CORPUS = [
    (
        "malformed JSON line",
        "a.jsonl",
        jsonl(GOOD) + b'{"instruction": "x", "output": \n',
        ["line 2", "invalid JSON"],
    ),
    ("missing field", "a.jsonl", jsonl(GOOD, {"instruction": "x"}), ["line 2", "output"]),
    ("empty file", "a.jsonl", b"", ["empty"]),
    ("only blank lines", "a.jsonl", b"\n\n   \n", ["a.jsonl"]),
    (
        "Latin-1 text",
        "a.jsonl",
        jsonl(GOOD) + '{"instruction": "café", "output": "x"}\n'.encode("latin-1"),
        ["line 2", "UTF-8"],
    ),
    (
        "UTF-16 with BOM",
        "a.jsonl",
        "\ufeff".encode("utf-16-le") + jsonl(GOOD).decode().encode("utf-16-le"),
        ["UTF-16"],
    ),
    ("NUL bytes", "a.jsonl", jsonl(GOOD) + b'{"instruction": "a\x00", "output"\x00: 1}\n', ["line 2"]),
    (
        "mixed task formats",
        "a.jsonl",
        jsonl(
            GOOD,
            GOOD,
            {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]},
        ),
        ["line 3", "chat"],
    ),
    (
        "output of the wrong type",
        "a.jsonl",
        jsonl(GOOD, {"instruction": "x", "output": 42}),
        ["line 2", "output"],
    ),
    ("output is null", "a.jsonl", jsonl(GOOD, {"instruction": "x", "output": None}), ["line 2", "output"]),
    (
        "empty instruction",
        "a.jsonl",
        jsonl(GOOD, {"instruction": "", "output": "y"}),
        ["line 2", "instruction"],
    ),
    ("a line that is not an object", "a.jsonl", jsonl(GOOD, [1, 2]), ["line 2"]),
    ("JSON top level is a number", "a.json", b"42", ["a.json"]),
    ("JSON array of strings", "a.json", json.dumps(["a", "b"]).encode(), ["row 1"]),
    ("JSON with trailing garbage", "a.json", json.dumps([GOOD]).encode() + b" }}", ["a.json"]),
    ("deeply nested JSON", "a.json", b"[" * 100_000 + b"]" * 100_000, ["a.json"]),
    ("JSON lines saved as .json", "a.json", jsonl(GOOD, GOOD), [".jsonl"]),
    ("chat messages not a list", "a.jsonl", jsonl({"messages": "hello"}), ["line 1", "messages"]),
    (
        "chat without an assistant turn",
        "a.jsonl",
        jsonl({"messages": [{"role": "user", "content": "hi"}]}),
        ["line 1", "assistant"],
    ),
    (
        "chat with an unknown role",
        "a.jsonl",
        jsonl({"messages": [{"role": "robot", "content": "hi"}, {"role": "assistant", "content": "x"}]}),
        ["line 1", "role"],
    ),
    (
        "preference without rejected",
        "a.jsonl",
        jsonl({"prompt": "p", "chosen": "c", "rejected": "r"}, {"prompt": "p", "chosen": "c"}),
        ["line 2", "rejected"],
    ),
    (
        "label of the wrong type",
        "a.jsonl",
        jsonl({"text": "a", "label": "x"}, {"text": "b", "label": [1]}),
        ["line 2", "label"],
    ),
    (
        "label missing",
        "a.jsonl",
        jsonl({"text": "a", "label": 1}, {"text": "b", "label": None}),
        ["line 2", "label"],
    ),
    ("CSV with only a header", "a.csv", b"instruction,output\n", ["a.csv"]),
    ("CSV without the needed columns", "a.csv", csv_bytes([["foo", "bar"], ["1", "2"]]), ["a.csv"]),
    (
        "CSV with a ragged row",
        "a.csv",
        csv_bytes([["instruction", "output"], ["a", "b"], ["c", "d", "e"]]),
        ["line 3"],
    ),
    (
        "CSV with an empty cell",
        "a.csv",
        csv_bytes([["instruction", "output"], ["a", "b"], ["c", ""]]),
        ["line 3", "output"],
    ),
    ("corrupt Parquet", "a.parquet", b"PAR1" + b"\x00garbage" * 50 + b"PAR1", ["a.parquet"]),
    (
        "Parquet with a numeric output column",
        "a.parquet",
        parquet(pa.table({"instruction": ["a", "b"], "output": [1, 2]})),
        ["row 1", "output"],
    ),
    ("gzip renamed to .jsonl", "a.jsonl", gzip.compress(jsonl(GOOD) * 1000), ["compressed"]),
    ("zip bomb renamed to .csv", "a.csv", zipped("big.csv", b"a," * 5_000_000), ["compressed"]),
    ("a spreadsheet renamed to .csv", "a.csv", zipped("xl/workbook.xml", b"<workbook/>"), ["a.csv"]),
    ("unsupported file type", "a.txt", b"hello", ["not supported"]),
    ("no extension", "data", jsonl(GOOD), ["not supported"]),
    ("a binary blob", "a.parquet", bytes(range(256)) * 10, ["a.parquet"]),
]


@pytest.mark.parametrize("case, filename, content, words", CORPUS, ids=[c[0] for c in CORPUS])
def test_a_bad_upload_is_refused_clearly_and_leaves_nothing(
    client, member, _storage, case, filename, content, words
):
    client.force_login(member)
    response = client.post("/datasets/new/", {"name": case, "file": SimpleUploadedFile(filename, content)})
    assert response.status_code == 200, case  # the form again, with the problem; never a 5xx
    message = " ".join(str(e) for e in response.context["form"].errors.get("file", []))
    for word in words:
        assert word in message, f"{case}: {word!r} not in {message!r}"
    assert not Dataset.objects.exists()
    assert not [p for p in _storage.rglob("*") if p.is_file()], "something was left in storage"


def test_the_corpus_has_at_least_30_cases():
    assert len(CORPUS) >= 30


def test_an_upload_over_the_size_limit_is_refused(client, member, settings, _storage):
    settings.HONE_MAX_UPLOAD_BYTES = 1024
    client.force_login(member)
    response = client.post("/datasets/new/", {"file": SimpleUploadedFile("a.jsonl", jsonl(GOOD) * 100)})
    assert "larger than the 1 KB limit" in " ".join(response.context["form"].errors["file"])
    assert not Dataset.objects.exists() and not [p for p in _storage.rglob("*") if p.is_file()]


def test_a_path_traversal_file_name_never_chooses_where_the_file_goes(client, member, _storage):
    client.force_login(member)
    client.post("/datasets/new/", {"file": SimpleUploadedFile("../../../etc/evil.jsonl", jsonl(GOOD))})
    dataset = Dataset.objects.get()
    assert dataset.filename == "evil.jsonl"
    assert (_storage / dataset.location).resolve().is_relative_to(_storage.resolve())


def test_spreadsheet_formulas_are_accepted_but_flagged(client, member):
    client.force_login(member)
    rows = [["instruction", "output"], ['=HYPERLINK("http://x")', "ok"], ["b", "@SUM(A1)"]]
    client.post("/datasets/new/", {"file": SimpleUploadedFile("f.csv", csv_bytes(rows))})
    dataset = Dataset.objects.get()
    assert dataset.report["stats"]["formula_like_cells"]["count"] == 2
