"""Merge, quantize and evaluate jobs through POST /api/v1/jobs: created with their inputs, or
refused with a 400 naming the field, before anything is queued; the method catalogue; compute
profiles at creation; the model fields that tell inputs apart."""

from __future__ import annotations

import pytest

from jobs.lifecycle import specs
from jobs.models import ComputeProfile, Job, ModelAsset
from tests.api.helpers import fields, problem
from trainers.merge import registry


def create(client, **body):
    return client.post("/api/v1/jobs", body, format="json")


@pytest.fixture(scope="session")
def narrow_model_dir(tmp_path_factory):
    """A tiny Llama of another width: its tensors do not fit tiny_model's."""
    from trainers.tiny import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("models") / "narrow", hidden_size=32)


def team_model(team, name, path, **fields) -> ModelAsset:
    return ModelAsset.objects.create(
        team=team, name=name, source="local", path=str(path), task="causal-lm", **fields
    )


@pytest.fixture
def tune(team, tiny_model_dir):
    """A model of the team with tiny_model's files: compatible with it in every way."""
    return team_model(team, "tune", tiny_model_dir, architecture="LlamaForCausalLM")


def merge_body(tiny_model, tune, **changes) -> dict:
    return {
        "kind": "merge",
        "method": "ties",
        "models": [{"model": tune.pk, "weight": 0.6}, {"model": tiny_model.pk, "weight": 0.4}],
        "base_model": tiny_model.pk,
        "params": {"density": 0.4},
        **changes,
    }


def test_a_ties_merge_is_queued_with_its_inputs(
    as_member, tiny_model, tune, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        response = create(as_member, **merge_body(tiny_model, tune, dtype="float16"))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["kind"], body["method"], body["status"], body["name"]) == (
        "merge",
        "ties",
        "queued",
        "ties: tune + tiny-llama",
    )
    job = Job.objects.get(pk=body["id"])
    assert job.params == {
        "method": "ties",
        "params": {"density": 0.4, "normalize": True, "scaling": 1.0},
        "dtype": "float16",
    }
    roles = [(i.role, i.model_id, i.weight) for i in job.inputs.order_by("position")]
    assert roles == [("base", tiny_model.pk, None), ("model", tune.pk, 0.6), ("model", tiny_model.pk, 0.4)]
    spec = specs.build_spec(job, 1, None)
    assert [m["weight"] for m in spec["models"]] == [0.6, 0.4] and spec["dtype"] == "float16"


@pytest.mark.parametrize(
    "changes, field, words",
    [
        ({"models": "one"}, "models[0].model", "no model"),  # replaced below by a single model
        ({"params": {"density": 1.5}}, "params.density", "(0, 1]"),
        ({"params": {"density": 0.5, "bogus": 1}}, "params.bogus", "Extra inputs"),
        ({"base_model": None}, "base_model", "needs base_model"),
        ({"method": "linear", "normalize": False, "weights": [0.5, 0.2]}, "models", "sum to 1"),
        ({"method": "linear", "weights": [-1, 2]}, "models[0].weight", ">= 0"),
        ({"method": "greedy_soup", "weights": [None, None]}, "dataset", "held-out"),
        ({"method": "ties", "dataset": "ours"}, "dataset", "only greedy_soup"),
        ({"method": "slerp", "weights": [0.5, 0.5]}, "models[0].weight", "no per-model weights"),
        ({"method": "nope"}, "method", "not a valid choice"),
        ({"method": ["ties"]}, "method", "not a valid choice"),
    ],
)
def test_a_bad_merge_is_a_400_naming_the_field(as_member, tiny_model, tune, dataset, changes, field, words):
    body = merge_body(tiny_model, tune)
    if changes.pop("models", None):
        body["models"] = [{"model": tune.pk}]
        field, words = "models", "at least 2"
    if "weights" in changes:
        for given, weight in zip(body["models"], changes.pop("weights"), strict=True):
            given["weight"] = weight
    if changes.get("dataset") == "ours":
        changes["dataset"] = dataset.pk
    if changes.get("method") in ("linear", "slerp", "greedy_soup"):
        body["params"] = {"normalize": changes.pop("normalize")} if "normalize" in changes else {}
    body |= changes
    errors = fields(problem(create(as_member, **body), 400))
    assert words in errors[field], errors
    assert not Job.objects.filter(kind="merge").exists()


def test_a_quantized_input_is_refused_with_what_to_do(as_member, team, tiny_model, tune):
    small = team_model(team, "small", "/store/q", quantization="rtn_int8")
    body = merge_body(tiny_model, tune, models=[{"model": tune.pk}, {"model": small.pk}])
    message = fields(problem(create(as_member, **body), 400))["models[1].model"]
    assert "small is quantized (rtn_int8)" in message and "then quantize the result" in message


def test_incompatible_models_are_refused_naming_the_first_tensor(
    as_member, team, tiny_model, tune, narrow_model_dir
):
    narrow = team_model(team, "narrow", narrow_model_dir)
    body = merge_body(tiny_model, tune, models=[{"model": tune.pk}, {"model": narrow.pk}])
    message = fields(problem(create(as_member, **body), 400))["models[1].model"]
    assert message.startswith("tensor lm_head.weight has shape [512, 32] in models[1] 'narrow'")
    assert "same base model" in message
    assert not Job.objects.exists()


def test_another_teams_model_is_refused_like_a_missing_one(as_member, other_team, tiny_model, tune):
    theirs = team_model(other_team, "theirs", "/elsewhere")
    body = merge_body(tiny_model, tune, models=[{"model": tune.pk}, {"model": theirs.pk}])
    errors = fields(problem(create(as_member, **body), 400))
    assert errors["models[1].model"] == f"there is no model #{theirs.pk} available to Acme"


def test_the_same_idempotency_key_replays_the_merge(as_member, tiny_model, tune):
    def send():
        return as_member.post(
            "/api/v1/jobs", merge_body(tiny_model, tune), format="json", HTTP_IDEMPOTENCY_KEY="merge-1"
        )

    first, second = send(), send()
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"] and second["Idempotent-Replayed"] == "true"
    assert Job.objects.filter(kind="merge").count() == 1


def test_a_quantize_job_is_queued(as_member, tiny_model, dataset):
    body = {
        "kind": "quantize",
        "method": "gptq_int4",
        "model": tiny_model.pk,
        "outputs": ["torchao", "gguf_q4_0"],
        "params": {"group_size": 32, "symmetric": True, "calibration_samples": 4, "calibration_seq_len": 64},
        "calibration": dataset.pk,
    }
    response = create(as_member, **body)
    assert response.status_code == 201, response.json()
    job = Job.objects.get(pk=response.json()["id"])
    assert (job.kind, job.method, job.params["outputs"]) == (
        "quantize",
        "gptq_int4",
        ["torchao", "gguf_q4_0"],
    )
    assert specs.build_spec(job, 1, None)["gptq_int4"]["calibration_samples"] == 4
    assert {i.role for i in job.inputs.all()} == {"base", "calibration"}


@pytest.mark.parametrize(
    "changes, field, words",
    [
        (
            {"method": "gptq_int4", "calibration": "ours", "params": {"group_size": 32}},
            "calibration",
            "not the 128 asked for",
        ),
        ({"method": "gptq_int4"}, "params.group_size", "groups of 128 do not divide; set Group size to 64"),
        ({"method": "rtn_int8", "calibration": "ours"}, "calibration", "only gptq_int4"),
        ({"method": "gptq_int4", "outputs": ["gguf_q4_0"]}, "outputs", "group_size 32"),
        ({"method": "rtn_int4", "params": {"group_size": 48}}, "params", "power of two"),
        ({"method": "rtn_int8", "params": {"group_size": 32}}, "params.group_size", "Extra inputs"),
        ({"method": "rtn_int8", "outputs": []}, "outputs", "at least 1"),
        ({"method": "rtn_int8", "model": "adapter"}, "model", "LoRA adapter"),
        (
            {"method": "mixed_precision", "params": {"bits_budget": 1.5}},
            "params.bits_budget",
            "below the smallest",
        ),
        (
            {"method": "mixed_precision", "params": {"bytes_budget": 10}},
            "params.bytes_budget",
            "every layer at 2 bits",
        ),
        ({"method": "mixed_precision", "params": {}}, "params", "give exactly one budget"),
        ({"method": "awq_int4", "outputs": ["compressed_tensors"]}, "outputs", "symmetric true"),
        ({"method": "rtn_int4", "outputs": ["compressed_tensors"]}, "outputs", "gptq_int4, awq_int4"),
    ],
)
def test_a_bad_quantize_job_is_a_400_naming_the_field(
    as_member, team, tiny_model, dataset, changes, field, words
):
    if changes.get("calibration") == "ours":
        changes["calibration"] = dataset.pk
    if changes.get("model") == "adapter":
        changes["model"] = team_model(team, "ad", "/a", format="adapter", adapter_base=tiny_model).pk
    body = {"kind": "quantize", "model": tiny_model.pk, **changes}
    errors = fields(problem(create(as_member, **body), 400))
    assert words in errors[field], errors
    assert not Job.objects.filter(kind="quantize").exists()


def test_an_evaluate_job_is_queued_and_its_params_are_checked(as_member, team, tiny_model, tune):
    body = {
        "kind": "evaluate",
        "base_model": tiny_model.pk,
        "candidate": tune.pk,
        "params": {"max_new_tokens": 8},
    }
    response = create(as_member, **body)
    assert response.status_code == 201, response.json()
    job = Job.objects.get(pk=response.json()["id"])
    assert job.name == "tune vs tiny-llama" and job.params["max_new_tokens"] == 8
    body["params"] = {"max_new_tokens": 0, "bogus": 1}
    errors = fields(problem(create(as_member, **body), 400))
    assert "greater than or equal to 1" in errors["params.max_new_tokens"] and "params.bogus" in errors
    classifier = ModelAsset.objects.create(
        team=team, name="clf", source="local", path="/c", task="sequence-classification"
    )
    body = {"kind": "evaluate", "base_model": tiny_model.pk, "candidate": classifier.pk}
    assert "different task" in fields(problem(create(as_member, **body), 400))["candidate"]


def test_a_failed_merge_is_retried_as_a_new_merge(as_member, tiny_model, tune):
    first = Job.objects.get(pk=create(as_member, **merge_body(tiny_model, tune)).json()["id"])
    Job.objects.filter(pk=first.pk).update(status=Job.Status.FAILED)
    response = as_member.post(f"/api/v1/jobs/{first.pk}/retry")
    assert response.status_code == 201, response.json()
    again = Job.objects.get(pk=response.json()["id"])
    assert (again.kind, again.params) == ("merge", first.params)
    assert again.inputs.count() == 3


def test_a_job_runs_on_the_compute_profile_asked_for(as_member, team, other_team, tiny_model, tune, dataset):
    ours = ComputeProfile.objects.create(name="gpu-a100")
    ours.allowed_teams.add(team)
    theirs = ComputeProfile.objects.create(name="globex-only")
    theirs.allowed_teams.add(other_team)
    body = create(as_member, **merge_body(tiny_model, tune, compute_profile=ours.pk)).json()
    assert body["compute_profile"] == {"id": ours.pk, "name": "gpu-a100"}
    assert Job.objects.get(pk=body["id"]).profile == ours
    trained = create(as_member, base_model=tiny_model.pk, dataset=dataset.pk, compute_profile=ours.pk).json()
    assert Job.objects.get(pk=trained["id"]).profile == ours
    assert as_member.get(f"/api/v1/jobs/{trained['id']}").json()["compute_profile"]["name"] == "gpu-a100"
    assert as_member.get("/api/v1/jobs").json()["results"][0]["compute_profile"]["id"] == ours.pk
    refused = fields(
        problem(
            create(as_member, base_model=tiny_model.pk, dataset=dataset.pk, compute_profile=theirs.pk), 400
        )
    )
    assert refused["compute_profile"].startswith(
        f"there is no compute profile #{theirs.pk} that Acme may use"
    )


def test_the_catalogue_lists_every_merge_quantize_and_evaluate_method(as_viewer):
    merges = as_viewer.get("/api/v1/methods?kind=merge").json()
    assert [m["name"] for m in merges] == list(registry.METHODS)
    ties = as_viewer.get("/api/v1/methods/ties").json()
    assert ties["kind"] == "merge" and ties["details"]["needs_base"] is True
    assert ties["parameters"]["properties"]["density"]["exclusiveMinimum"] == 0
    gptq = as_viewer.get("/api/v1/methods/gptq_int4").json()
    assert (
        "calibration_samples" in gptq["parameters"]["properties"]
        and "gguf_q4_0" in gptq["details"]["outputs"]
    )
    assert "held_out" not in as_viewer.get("/api/v1/methods/greedy_soup").json()["parameters"]["properties"]
    kinds = {m["kind"] for m in as_viewer.get("/api/v1/methods").json()}
    assert kinds == {"train", "merge", "quantize", "evaluate", "curate"}
    problem(as_viewer.get("/api/v1/methods?kind=nope"), 400)


def test_models_say_their_format_quantization_and_base(as_viewer, team, tiny_model):
    adapter = team_model(team, "ad", "/a", format="adapter", adapter_base=tiny_model, quantization="")
    body = as_viewer.get(f"/api/v1/models/{adapter.pk}").json()
    assert (body["format"], body["quantization"], body["adapter_base"]) == ("adapter", "", tiny_model.pk)


def test_profile_names_cost_a_query_only_when_a_page_has_profiles(
    as_member, team, member, tiny_model, dataset
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.api.helpers import make_job

    jobs = [make_job(team, member, tiny_model, dataset, name=f"j{i}") for i in range(3)]
    as_member.get("/api/v1/jobs")  # the token is looked up and cached
    with CaptureQueriesContext(connection) as plain:
        as_member.get("/api/v1/jobs")
    Job.objects.filter(pk=jobs[0].pk).update(profile=ComputeProfile.objects.create(name="big"))
    with CaptureQueriesContext(connection) as named:
        listed = as_member.get("/api/v1/jobs").json()["results"]
    assert len(named) == len(plain) + 1
    assert [j["compute_profile"] and j["compute_profile"]["name"] for j in listed] == [None, None, "big"]
    job = Job.objects.select_related("base_model", "dataset", "created_by", "profile").get(pk=jobs[0].pk)
    from api.serializers.jobs import JobSerializer

    assert listed[-1] == JobSerializer(job).data
