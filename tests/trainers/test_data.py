"""Detecting, validating and loading the datasets users upload (trainers.data)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from trainers.data import DataError, DataReport, RowError, detect_format, inspect_file, load_rows

INSTRUCTION = {"instruction": "Add 2 and 2.", "input": "", "output": "4"}
CHAT = {
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
    ]
}


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def write_jsonl(tmp_path: Path, rows: list[object], name: str = "train.jsonl") -> Path:
    return write(tmp_path, name, "".join(json.dumps(row) + "\n" for row in rows))


def write_parquet(tmp_path: Path, rows: list[dict], name: str = "train.parquet") -> Path:
    path = tmp_path / name
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def error_at(report: DataReport, line: int) -> RowError:
    matches = [error for error in report.errors if error.line == line]
    assert matches, f"no error on line {line}: {report.errors}"
    return matches[0]


def raised(path: Path, **kwargs: object) -> str:
    with pytest.raises(DataError) as info:
        inspect_file(path, **kwargs)  # type: ignore[arg-type]
    return str(info.value)


# Formats


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("train.jsonl", '{"text": "a"}\n', "jsonl"),
        ("train.ndjson", '{"text": "a"}\n', "jsonl"),
        ("train.json", '[{"text": "a"}]', "json"),
        ("train.csv", "text\na\n", "csv"),
        ("train.tsv", "text\tlabel\na\tb\n", "csv"),
        ("TRAIN.JSONL", '{"text": "a"}\n', "jsonl"),
    ],
)
def test_it_detects_the_format_from_the_extension(
    tmp_path: Path, name: str, content: str, expected: str
) -> None:
    assert detect_format(write(tmp_path, name, content)) == expected


def test_it_detects_parquet_from_the_extension(tmp_path: Path) -> None:
    assert detect_format(write_parquet(tmp_path, [{"text": "a"}])) == "parquet"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"text": "a"}\n{"text": "b"}\n', "jsonl"),
        ('  [{"text": "a"}]', "json"),
        ('{\n  "data": [{"text": "a"}]\n}\n', "json"),
        ("text,label\na,b\n", "csv"),
    ],
)
def test_it_sniffs_the_format_when_the_name_has_no_extension(
    tmp_path: Path, content: str, expected: str
) -> None:
    assert detect_format(write(tmp_path, "upload", content)) == expected


def test_it_sniffs_parquet_by_its_magic_bytes(tmp_path: Path) -> None:
    path = write_parquet(tmp_path, [{"text": "a"}], name="upload.bin")
    assert detect_format(path) == "parquet"
    assert inspect_file(path).format == "parquet"


def test_it_prefers_the_upload_name_to_the_stored_path(tmp_path: Path) -> None:
    path = write(tmp_path, "tmp1234.upload", "text,label\nhello,pos\nbye,neg\n")
    report = inspect_file(path, "reviews.csv")
    assert (report.filename, report.format, report.task) == ("reviews.csv", "csv", "classification")


def test_it_refuses_an_excel_workbook_with_advice(tmp_path: Path) -> None:
    message = raised(write(tmp_path, "data.xlsx", b"PK\x03\x04rest"))
    assert message.startswith("data.xlsx: ")
    assert "CSV UTF-8" in message


def test_it_refuses_a_binary_file_it_cannot_read(tmp_path: Path) -> None:
    message = raised(write(tmp_path, "upload", b"\x00\x01\x02garbage"))
    assert "could not tell the format" in message


def test_it_refuses_a_broken_parquet_file(tmp_path: Path) -> None:
    message = raised(write(tmp_path, "train.parquet", b"PAR1 not really"))
    assert message.startswith("train.parquet: could not read the file as Parquet")


# Tasks


@pytest.mark.parametrize(
    ("row", "task"),
    [
        ({"text": "Once upon a time"}, "text"),
        (INSTRUCTION, "instruction"),
        (CHAT, "chat"),
        ({"prompt": "Say hi", "chosen": "Hi!", "rejected": "No."}, "preference"),
        ({"text": "Great film", "label": "pos"}, "classification"),
        ({"prompt": "Say hi", "response": "Hi!"}, "instruction"),
        ({"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hey"}]}, "chat"),
    ],
)
def test_it_detects_every_task_from_the_keys(tmp_path: Path, row: dict, task: str) -> None:
    other = {**row, "label": "neg"} if "label" in row else row  # a classifier needs two labels
    report = inspect_file(write_jsonl(tmp_path, [row, other]))
    assert report.task == task
    assert report.ok, report.errors


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "parquet"])
def test_it_detects_the_task_in_every_format(tmp_path: Path, fmt: str) -> None:
    rows = [{"instruction": f"q{n}", "output": f"a{n}"} for n in range(3)]
    if fmt == "jsonl":
        path = write_jsonl(tmp_path, rows)
    elif fmt == "json":
        path = write(tmp_path, "train.json", json.dumps(rows))
    elif fmt == "csv":
        path = write(
            tmp_path, "train.csv", "instruction,output\n" + "".join(f"q{n},a{n}\n" for n in range(3))
        )
    else:
        path = write_parquet(tmp_path, rows)
    report = inspect_file(path)
    assert (report.format, report.task, report.row_count) == (fmt, "instruction", 3)
    assert load_rows(path, fmt, "instruction")[2] == {"instruction": "q2", "input": "", "output": "a2"}


def test_it_takes_the_task_most_rows_fit_and_flags_the_odd_row(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path, [INSTRUCTION, INSTRUCTION, CHAT, INSTRUCTION])
    report = inspect_file(path)
    assert report.task == "instruction"
    assert report.error_count == 1
    assert str(error_at(report, 3)).startswith("line 3, field 'messages': this row looks like chat data")


def test_it_checks_rows_against_a_task_it_is_given(tmp_path: Path) -> None:
    report = inspect_file(write_jsonl(tmp_path, [{"text": "a"}]), task="classification")
    assert report.task == "classification"
    assert str(report.errors[0]) == "line 1, field 'label': missing"


def test_it_refuses_an_unknown_task(tmp_path: Path) -> None:
    message = raised(write_jsonl(tmp_path, [{"text": "a"}]), task="translation")
    assert "unknown task 'translation'" in message
    assert "classification" in message


def test_it_says_so_when_no_task_fits_the_columns(tmp_path: Path) -> None:
    message = raised(write_jsonl(tmp_path, [{"foo": 1, "bar": 2}]))
    assert message.startswith("train.jsonl: could not tell what kind of data this is")
    assert "'foo', 'bar'" in message


# Aliases and normalisation


@pytest.mark.parametrize(
    "row",
    [
        {"instruction": "Q", "output": "A"},
        {"instruction": "Q", "response": "A"},
        {"prompt": "Q", "response": "A"},
        {"question": "Q", "answer": "A"},
        {"prompt": "Q", "completion": "A"},
    ],
)
def test_it_normalises_instruction_aliases(tmp_path: Path, row: dict) -> None:
    path = write_jsonl(tmp_path, [row])
    assert inspect_file(path).preview == [{"instruction": "Q", "input": "", "output": "A"}]
    assert load_rows(path, "jsonl", "instruction") == [{"instruction": "Q", "input": "", "output": "A"}]


def test_it_keeps_the_input_and_treats_null_input_as_empty(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path, [{**INSTRUCTION, "input": "ctx"}, {**INSTRUCTION, "input": None}])
    assert [row["input"] for row in load_rows(path, "jsonl", "instruction")] == ["ctx", ""]


def test_it_normalises_sharegpt_conversations(tmp_path: Path) -> None:
    row = {
        "conversations": [
            {"from": "system", "value": "Be brief."},
            {"from": "human", "value": "Hi"},
            {"from": "gpt", "value": "Hello!"},
        ]
    }
    path = write_jsonl(tmp_path, [row])
    assert load_rows(path, "jsonl", "chat") == [CHAT]
    assert inspect_file(path).preview == [CHAT]


def test_it_reads_chat_messages_from_a_csv_cell_holding_json(tmp_path: Path) -> None:
    cell = json.dumps(CHAT["messages"]).replace('"', '""')
    path = write(tmp_path, "chat.csv", f'messages\n"{cell}"\n')
    assert load_rows(path, "csv", "chat") == [CHAT]


def test_it_reports_unknown_columns_as_ignored(tmp_path: Path) -> None:
    report = inspect_file(write_jsonl(tmp_path, [{**INSTRUCTION, "id": 1, "source": "web"}]))
    assert report.ok
    assert report.columns == ["instruction", "input", "output", "id", "source"]
    assert report.stats["ignored_columns"] == ["id", "source"]
    assert any("'id', 'source'" in warning for warning in report.stats["warnings"])
    assert report.preview == [INSTRUCTION]


# Bad rows: each names the line or row and the field


def test_it_names_the_line_of_malformed_json(tmp_path: Path) -> None:
    path = write(
        tmp_path, "train.jsonl", '{"text": "a"}\n{"text": "b"}\n\n{"text": "c" "x": 1}\n{"text": "d"}\n'
    )
    report = inspect_file(path)
    assert report.row_count == 4
    assert str(report.errors[0]) == "line 4: invalid JSON (Expecting ',' delimiter at column 14)"
    with pytest.raises(DataError) as info:
        load_rows(path, "jsonl", "text")
    assert str(info.value) == "train.jsonl, line 4: invalid JSON (Expecting ',' delimiter at column 14)"
    assert (info.value.file, info.value.line, info.value.field) == ("train.jsonl", 4, None)


def test_it_names_the_line_of_a_json_line_that_is_not_an_object(tmp_path: Path) -> None:
    report = inspect_file(write_jsonl(tmp_path, [{"text": "a"}, ["text", "b"]]))
    assert str(report.errors[0]).startswith("line 2: expected a JSON object")


def test_it_names_the_missing_field(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path, [INSTRUCTION, INSTRUCTION, {"instruction": "Q", "input": ""}])
    report = inspect_file(path, task="instruction")
    aliases = "'response', 'answer', 'completion'"
    assert str(report.errors[0]) == f"line 3, field 'output': missing (also accepted as {aliases})"
    with pytest.raises(DataError, match=r"^train\.jsonl, line 3, field 'output': missing"):
        load_rows(path, "jsonl", "instruction")


@pytest.mark.parametrize(
    ("row", "field", "message"),
    [
        ({"instruction": "Q", "output": 42}, "output", "must be text, got a number (42)"),
        ({"instruction": "Q", "output": None}, "output", "must be text, got null"),
        ({"instruction": "Q", "response": ["A"]}, "response", "must be text, got a list"),
        ({"instruction": "Q", "input": 7, "output": "A"}, "input", "must be text, got a number (7)"),
    ],
)
def test_it_names_a_field_of_the_wrong_type(tmp_path: Path, row: dict, field: str, message: str) -> None:
    report = inspect_file(write_jsonl(tmp_path, [INSTRUCTION, row]))
    assert [str(error) for error in report.errors] == [f"line 2, field '{field}': {message}"]


@pytest.mark.parametrize(
    ("label", "message"),
    [
        (["pos"], "must be text or a whole number, got a list"),
        (True, "must be text or a whole number, got true/false (true)"),
        (0.5, "must be text or a whole number, got a number (0.5)"),
        ("  ", "is empty"),
    ],
)
def test_it_names_a_bad_label(tmp_path: Path, label: object, message: str) -> None:
    rows = [{"text": "good", "label": "pos"}, {"text": "bad", "label": label}]
    report = inspect_file(write_jsonl(tmp_path, rows))
    assert report.task == "classification"
    assert [str(error) for error in report.errors] == [f"line 2, field 'label': {message}"]


def test_it_accepts_whole_number_labels(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path, [{"text": "a", "label": 1}, {"text": "b", "label": 0.0}])
    assert load_rows(path, "jsonl", "classification") == [
        {"text": "a", "label": 1},
        {"text": "b", "label": 0},
    ]


def test_it_rejects_an_empty_string_where_text_is_required(tmp_path: Path) -> None:
    report = inspect_file(write_jsonl(tmp_path, [{"text": "a"}, {"text": "b"}, {"text": "   "}]))
    assert [str(error) for error in report.errors] == ["line 3, field 'text': is empty"]


def test_it_names_every_problem_field_of_a_preference_row(tmp_path: Path) -> None:
    rows = [{"prompt": "P", "chosen": "C", "rejected": "R"}, {"prompt": "", "chosen": "C", "rejected": 3}]
    report = inspect_file(write_jsonl(tmp_path, rows))
    assert report.task == "preference"
    assert [str(error) for error in report.errors] == [
        "line 2, field 'prompt': is empty",
        "line 2, field 'rejected': must be text, got a number (3)",
    ]
    assert report.stats["invalid_rows"] == 1


def test_it_requires_an_assistant_turn_in_a_chat(tmp_path: Path) -> None:
    report = inspect_file(write_jsonl(tmp_path, [CHAT, {"messages": [{"role": "user", "content": "Hi"}]}]))
    assert str(report.errors[0]).startswith("line 2, field 'messages': has no assistant turn")


@pytest.mark.parametrize(
    ("message", "field", "text"),
    [
        ({"role": "tool", "content": "x"}, "messages[1].role", "unknown role text ('tool')"),
        ({"role": "assistant", "content": 5}, "messages[1].content", "must be text, got a number (5)"),
        ({"role": "assistant"}, "messages[1].content", "missing"),
        ("hello", "messages[1]", "must be an object with 'role' and 'content'"),
    ],
)
def test_it_names_the_bad_message_in_a_chat(tmp_path: Path, message: object, field: str, text: str) -> None:
    row = {"messages": [{"role": "user", "content": "Hi"}, message]}
    report = inspect_file(write_jsonl(tmp_path, [CHAT, row]))
    assert str(report.errors[0]).startswith(f"line 2, field '{field}': {text}")


def test_it_names_sharegpt_fields_as_the_user_wrote_them(tmp_path: Path) -> None:
    row = {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": ""}]}
    report = inspect_file(write_jsonl(tmp_path, [CHAT, row]))
    assert str(report.errors[0]) == "line 2, field 'conversations[1].value': is empty"


def test_it_caps_the_errors_but_counts_them_all(tmp_path: Path) -> None:
    report = inspect_file(write_jsonl(tmp_path, [{"text": ""}] * 30), max_errors=5, task="text")
    assert len(report.errors) == 5
    assert report.error_count == 30
    assert not report.ok


# Empty files and encodings


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("train.jsonl", "", "train.jsonl: the file is empty"),
        ("train.csv", "", "train.csv: the file is empty"),
        ("train.jsonl", "\n  \n\n", "train.jsonl: the file has only blank lines, no JSON rows"),
        ("train.csv", "\n\n", "train.csv: the file has only blank lines"),
        ("train.csv", "instruction,output\n\n", "train.csv: the file has a header row but no data rows"),
        ("train.json", "[]", "train.json: the JSON array is empty; it holds no rows"),
        ("train.json", " \n", "train.json: the file has only blank lines"),
    ],
)
def test_it_refuses_a_file_without_rows(tmp_path: Path, name: str, content: str, message: str) -> None:
    assert raised(write(tmp_path, name, content)) == message


def test_it_refuses_a_parquet_file_without_rows(tmp_path: Path) -> None:
    path = tmp_path / "train.parquet"
    pq.write_table(pa.table({"text": pa.array([], pa.string())}), path)
    assert raised(path) == "train.parquet: the Parquet file has no rows"


def test_it_names_the_line_and_byte_offset_of_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    content = b'{"text": "a"}\n{"text": "caf\xe9"}\n'
    message = raised(write(tmp_path, "train.jsonl", content))
    assert message.startswith("train.jsonl, line 2: the file is not UTF-8 text (byte 0xE9 at byte offset 27)")
    with pytest.raises(DataError, match="line 2: the file is not UTF-8"):
        load_rows(tmp_path / "train.jsonl", "jsonl", "text")


def test_it_names_the_spreadsheet_line_of_bytes_that_are_not_utf8_in_csv(tmp_path: Path) -> None:
    content = b'text,label\n"two\nlines",pos\ncaf\xe9,neg\n'
    message = raised(write(tmp_path, "train.csv", content))
    assert message.startswith("train.csv, line 3: the file is not UTF-8 text (byte 0xE9 at byte offset 30)")


def test_it_names_the_line_of_bytes_that_are_not_utf8_in_a_json_array(tmp_path: Path) -> None:
    message = raised(write(tmp_path, "train.json", b'[\n{"text": "a"},\n{"text": "\xff"}\n]'))
    assert message.startswith("train.json, line 3: the file is not UTF-8 text (byte 0xFF at byte offset 27)")


def test_it_recognises_utf16(tmp_path: Path) -> None:
    path = write(tmp_path, "train.csv", "text\nhello\n".encode("utf-16"))
    assert raised(path) == "train.csv, line 1: the file is saved as UTF-16; save it as UTF-8 instead"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("train.jsonl", '{"text": "a"}\n{"text": "b"}\n'),
        ("train.json", '[{"text": "a"}, {"text": "b"}]'),
        ("train.csv", "text\na\nb\n"),
        ("upload", '{"text": "a"}\n{"text": "b"}\n'),
    ],
)
def test_it_accepts_and_strips_a_utf8_bom(tmp_path: Path, name: str, content: str) -> None:
    path = write(tmp_path, name, b"\xef\xbb\xbf" + content.encode())
    report = inspect_file(path)
    assert report.ok, report.errors
    assert report.columns == ["text"]
    assert load_rows(path, report.format, "text") == [{"text": "a"}, {"text": "b"}]


# JSON documents


def test_it_reads_rows_from_an_object_with_one_list(tmp_path: Path) -> None:
    path = write(tmp_path, "train.json", json.dumps({"version": 2, "data": [INSTRUCTION, INSTRUCTION]}))
    report = inspect_file(path)
    assert (report.task, report.row_count) == ("instruction", 2)


def test_it_names_the_row_of_a_json_array_item_that_is_not_an_object(tmp_path: Path) -> None:
    path = write(tmp_path, "train.json", json.dumps([{"text": "a"}, "b", {"text": "c"}]))
    report = inspect_file(path)
    assert str(report.errors[0]) == 'row 2: expected an object like {"text": "..."}, got text (\'b\')'
    assert report.errors[0].unit == "row"


def test_it_names_the_row_and_field_of_a_bad_json_array_item(tmp_path: Path) -> None:
    path = write(
        tmp_path, "train.json", json.dumps([INSTRUCTION, INSTRUCTION, {"instruction": "Q", "output": 1}])
    )
    with pytest.raises(DataError) as info:
        load_rows(path, "json", "instruction")
    assert str(info.value) == "train.json, row 3, field 'output': must be text, got a number (1)"
    assert info.value.unit == "row"


@pytest.mark.parametrize(
    ("document", "found"),
    [
        ('"just text"', "found text ('just text')"),
        ("42", "found a number (42)"),
        ('{"text": "a"}', "found an object with no list of rows ('text')"),
        ('{"train": [], "test": []}', "found an object with several lists ('train', 'test')"),
    ],
)
def test_it_refuses_a_json_top_level_that_is_not_an_array_of_objects(
    tmp_path: Path, document: str, found: str
) -> None:
    message = raised(write(tmp_path, "train.json", document))
    assert message.startswith("train.json: the top level must be an array of objects")
    assert message.endswith(found)


def test_it_explains_a_single_conversation_in_a_json_file(tmp_path: Path) -> None:
    message = raised(write(tmp_path, "chat.json", json.dumps(CHAT)))
    assert message.startswith("chat.json: the file holds a single conversation")


def test_it_names_the_line_and_column_of_invalid_json_in_a_json_file(tmp_path: Path) -> None:
    message = raised(write(tmp_path, "train.json", '[\n  {"text": "a"},\n  {"text": }\n]'))
    assert message == "train.json, line 3: invalid JSON (Expecting value at column 12)"


def test_it_suggests_jsonl_for_a_json_file_with_one_object_per_line(tmp_path: Path) -> None:
    message = raised(write(tmp_path, "train.json", '{"text": "a"}\n{"text": "b"}\n'))
    assert message.startswith("train.json, line 2: invalid JSON (Extra data at column 1)")
    assert "name it .jsonl" in message


# JSON Lines


def test_it_skips_blank_lines_but_keeps_counting_them(tmp_path: Path) -> None:
    path = write(tmp_path, "train.jsonl", '\n{"text": "a"}\n\n   \n{"text": ""}\n')
    report = inspect_file(path)
    assert report.row_count == 2
    assert str(report.errors[0]) == "line 5, field 'text': is empty"


# CSV


def test_it_reads_a_csv_cell_with_a_quoted_newline(tmp_path: Path) -> None:
    path = write(tmp_path, "train.csv", 'instruction,output\n"Write two lines","one\ntwo"\n"Q2",""\n')
    report = inspect_file(path)
    assert report.row_count == 2
    assert report.preview == [{"instruction": "Write two lines", "input": "", "output": "one\ntwo"}]
    # Numbered as a spreadsheet shows them: the two-line cell is still line 2, so the next row is line 3.
    assert str(report.errors[0]) == "line 3, field 'output': is empty"


def test_it_numbers_csv_lines_from_the_header(tmp_path: Path) -> None:
    path = write(tmp_path, "train.csv", "text,label\ngood,pos\n,neg\n")
    with pytest.raises(DataError) as info:
        load_rows(path, "csv", "classification")
    assert str(info.value) == "train.csv, line 3, field 'text': is empty"
    assert (info.value.line, info.value.field) == (3, "text")


def test_it_names_a_csv_line_with_the_wrong_number_of_cells(tmp_path: Path) -> None:
    report = inspect_file(write(tmp_path, "train.csv", "text,label\ngood,pos\nbad, really,neg\nok,neg,\n"))
    assert [error.line for error in report.errors] == [3]
    assert str(report.errors[0]).startswith("line 3: has 3 cells but the header has 2 columns")


def test_it_names_the_line_of_an_unclosed_quote(tmp_path: Path) -> None:
    message = raised(write(tmp_path, "train.csv", 'text,label\ngood,pos\n"bad,neg\nok,pos\n'))
    assert message.startswith("train.csv, line 3: a quoted cell starting here is never closed")


def test_it_refuses_a_csv_header_that_repeats_a_column(tmp_path: Path) -> None:
    message = raised(write(tmp_path, "train.csv", "text,text\na,b\n"))
    assert message.startswith("train.csv, line 1: the header names column 'text' more than once")


def test_it_warns_about_formula_like_cells(tmp_path: Path) -> None:
    content = 'text,label\ngood,pos\n=HYPERLINK("x"),neg\nfine,-1\n@SUM(A1),+cmd\n'
    report = inspect_file(write(tmp_path, "train.csv", content))
    assert report.ok
    assert report.stats["formula_like_cells"] == {"count": 3, "lines": [3, 5]}
    assert any(warning.startswith("Formula-like cells") for warning in report.stats["warnings"])


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("train.tsv", "text\tlabel\nhello, world\tpos\n"),
        ("train.csv", "text;label\nhello, world;pos\n"),
        ("train.csv", 'text,label\r\n"hello, world",pos\r\n'),
    ],
)
def test_it_reads_tab_and_semicolon_separated_and_crlf_files(tmp_path: Path, name: str, content: str) -> None:
    path = write(tmp_path, name, content.encode())
    assert load_rows(path, "csv", "classification") == [{"text": "hello, world", "label": "pos"}]


# Parquet


def test_it_reads_nested_chat_rows_from_parquet(tmp_path: Path) -> None:
    path = write_parquet(tmp_path, [CHAT, CHAT])
    report = inspect_file(path)
    assert (report.format, report.task, report.row_count) == ("parquet", "chat", 2)
    assert load_rows(path, "parquet", "chat") == [CHAT, CHAT]


def test_it_names_the_row_and_field_of_a_bad_parquet_row(tmp_path: Path) -> None:
    path = write_parquet(tmp_path, [{"text": "a", "label": 1}, {"text": None, "label": 2}])
    report = inspect_file(path)
    assert str(report.errors[0]) == "row 2, field 'text': must be text, got null"
    with pytest.raises(DataError, match=r"^train\.parquet, row 2, field 'text': must be text, got null$"):
        load_rows(path, "parquet", "classification")


# The report


def test_the_report_summarises_lengths_labels_and_a_preview(tmp_path: Path) -> None:
    rows = [{"text": "x" * n, "label": "pos" if n % 2 else "neg"} for n in range(1, 8)]
    report = inspect_file(write_jsonl(tmp_path, rows))
    assert report.stats["chars"] == {"text": {"min": 1, "max": 7, "mean": 4.0}}
    assert report.stats["labels"] == {"pos": 4, "neg": 3}
    assert report.preview == rows[:5]


def test_the_report_is_json_serialisable(tmp_path: Path) -> None:
    report = inspect_file(write_jsonl(tmp_path, [CHAT, {"messages": []}]))
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is False
    assert data["task"] == "chat"
    assert data["errors"][0]["field"] == "messages"
    assert data["errors"][0]["text"].startswith("line 2, field 'messages': must be a list of messages")
    assert data["stats"]["turns"] == {"min": 3, "max": 3, "mean": 3.0}


def test_the_preview_shortens_long_texts(tmp_path: Path) -> None:
    report = inspect_file(write_jsonl(tmp_path, [{"text": "y" * 5000}]))
    assert len(report.preview[0]["text"]) < 1100
    assert report.stats["chars"]["text"]["max"] == 5000


def test_the_data_layer_does_not_import_django() -> None:
    code = "import sys, trainers.data; sys.exit('django' in sys.modules)"
    root = Path(__file__).resolve().parents[2]
    assert subprocess.run([sys.executable, "-c", code], cwd=root).returncode == 0


def test_it_says_a_jsonl_line_is_cut_short_instead_of_blaming_the_next_line(tmp_path: Path) -> None:
    path = write(
        tmp_path, "cut.jsonl", '{"instruction": "a", "output": "b"}\n{"instruction": "c", "output": \n'
    )
    report = inspect_file(path)
    assert str(report.errors[0]) == (
        "line 2: invalid JSON: the line ends before the value is complete (Expecting value)"
    )
