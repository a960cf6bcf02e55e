"""The merge spec and the method catalogue: what the platform builds forms, the API and specs from."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.trainers.conftest import REPO
from trainers.merge.registry import METHODS, UnknownMethod, catalogue, get
from trainers.spec import JOB_KINDS, SpecError, parse_spec
from trainers.spec_merge import MergeSpec

LINEAR = {
    "kind": "merge",
    "job_id": 1,
    "attempt": 1,
    "method": "linear",
    "output_dir": "/tmp/out",
    "models": [{"name": "a", "path": "/m/a"}, {"name": "b", "path": "/m/b", "weight": 2}],
}


def test_merge_is_a_job_kind_with_its_spec_and_runner() -> None:
    assert JOB_KINDS["merge"] == ("trainers.spec_merge:MergeSpec", "trainers.merge.run:run_merge")
    spec = parse_spec(LINEAR)
    assert isinstance(spec, MergeSpec)
    assert spec.weights() == [1.0, 2.0] and spec.shard_size_mb == 500 and spec.dtype == "auto"
    assert spec.method_params().model_dump() == {"normalize": True}


def test_the_catalogue_describes_every_method_for_forms_and_the_api() -> None:
    entries = catalogue()
    assert [e["name"] for e in entries] == list(METHODS)
    expected = {
        "linear",
        "greedy_soup",
        "task_arithmetic",
        "ties",
        "dare_linear",
        "dare_ties",
        "breadcrumbs",
        "breadcrumbs_ties",
        "della",
        "della_linear",
        "sce",
        "pcb",
        "model_stock",
        "slerp",
        "nuslerp",
        "karcher",
        "lora_fold",
        "lora_extract",
        "adapter_combine",
    }
    assert set(METHODS) == expected
    for entry in entries:
        assert entry["paper"].startswith("https://") and entry["help"] and "\n" not in entry["help"]
        assert entry["min_models"] >= 1 and entry["output"] in ("model", "adapter")
        schema = entry["params_schema"]
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        for name, field in schema.get("properties", {}).items():
            assert field.get("description"), f"{entry['name']}.{name} has no help"
    json.dumps(entries)  # served as JSON as it is
    ties = next(e for e in entries if e["name"] == "ties")
    assert ties["needs_base"] and ties["params_schema"]["properties"]["density"] == {
        "default": 0.5,
        "description": "Share of each model's changes to keep, largest first (the TIES 'k').",
        "exclusiveMinimum": 0,
        "maximum": 1,
        "title": "Density",
        "type": "number",
    }
    slerp = next(e for e in entries if e["name"] == "slerp")
    assert (slerp["min_models"], slerp["max_models"], slerp["weights"]) == (2, 2, "none")


def test_an_unknown_method_is_a_spec_error_listing_the_known_ones() -> None:
    with pytest.raises(UnknownMethod, match="known methods: linear, greedy_soup, task_arithmetic, ties"):
        get("franken")
    assert issubclass(UnknownMethod, SpecError)


def test_the_spec_side_does_not_import_torch() -> None:
    """The web app validates merge specs and serves the catalogue without paying for torch."""
    code = "import sys, trainers.spec_merge, trainers.merge.registry; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_lora_fold_spec_example_is_valid() -> None:
    spec = parse_spec(
        {
            "kind": "merge",
            "job_id": 9,
            "attempt": 1,
            "method": "lora_fold",
            "base_model": {"name": "tiny-llama", "path": "/models/tiny-llama"},
            "models": [{"name": "sft-run-12", "path": "/storage/jobs/12/adapter"}],
            "output_dir": "/storage/jobs/9/model",
            "dtype": "bfloat16",
        }
    )
    assert spec.method == "lora_fold" and spec.base_model.path == "/models/tiny-llama"
