"""Valid JSON, and optionally valid against a JSON Schema (the schema is a parameter of the reward;
checked with the jsonschema library). The JSON may stand alone or inside a ```json fence."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import Field, field_validator

from trainers.rewards.base import Reward, RewardParams, final_answer

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


class JsonParams(RewardParams):
    schema_: dict[str, Any] | None = Field(
        None, alias="schema",
        description="A JSON Schema the JSON must satisfy; empty: any valid JSON scores.",
    )

    @field_validator("schema_")
    @classmethod
    def _is_a_schema(cls, schema: dict | None) -> dict | None:
        if schema is not None:
            from jsonschema import Draft202012Validator
            from jsonschema.exceptions import SchemaError

            try:
                Draft202012Validator.check_schema(schema)
            except SchemaError as exc:
                raise ValueError(f"not a valid JSON Schema: {exc.message}") from None
        return schema


class JsonSchemaParams(JsonParams):
    schema_: dict[str, Any] = Field(alias="schema", description="The JSON Schema the JSON must satisfy.")


def _json(completion: str) -> tuple[bool, Any]:
    text = final_answer(completion)
    fenced = _FENCE.search(text)
    try:
        return True, json.loads(fenced.group(1) if fenced else text)
    except ValueError:
        return False, None


def score(completion: str, answer: str, params: JsonParams) -> float:
    ok, value = _json(completion)
    if not ok:
        return 0.0
    if params.schema_ is None:
        return 1.0
    from jsonschema import Draft202012Validator

    return float(Draft202012Validator(params.schema_).is_valid(value))


JSON = Reward("json", "The answer is valid JSON", score, JsonParams, uses_answer=False)
JSON_SCHEMA = Reward("json_schema", "The answer is JSON that fits a schema", score, JsonSchemaParams,
                     uses_answer=False)
