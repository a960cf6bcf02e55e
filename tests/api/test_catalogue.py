"""The method catalogue, compute profiles, the caller and their teams."""

from __future__ import annotations

from jobs.models import ComputeProfile, Job, Membership
from tests.api.helpers import client_for, fields, problem
from trainers import catalogue
from trainers.spec import LoraParams, TrainingParams


def test_methods_carry_the_json_schema_of_their_parameters(as_viewer):
    methods = as_viewer.get("/api/v1/methods").json()
    trained = [m["name"] for m in methods if m["kind"] == "train"]
    assert trained == [m.name for m in catalogue.methods("train")]
    lora = as_viewer.get("/api/v1/methods/lora").json()
    assert lora == methods[0] == catalogue.get("lora").describe() | {"details": {}}
    assert lora["parameters"]["properties"]["lora"] == LoraParams.model_json_schema()
    assert lora["parameters"]["properties"]["training"] == TrainingParams.model_json_schema()
    assert (
        lora["parameters"]["properties"]["training"]["properties"]["learning_rate"]["exclusiveMinimum"] == 0
    )


def test_an_unknown_method_is_a_404_naming_the_known_ones(as_viewer):
    assert "known methods: lora, loraplus" in problem(as_viewer.get("/api/v1/methods/nope"), 404)["detail"]


def test_profiles_open_to_all_or_to_this_team(as_member, team, other_team):
    ComputeProfile.objects.all().delete()
    ComputeProfile.objects.create(name="everyone")
    ours = ComputeProfile.objects.create(name="ours")
    ours.allowed_teams.add(team, other_team)
    theirs = ComputeProfile.objects.create(name="theirs")
    theirs.allowed_teams.add(other_team)
    assert [p["name"] for p in as_member.get("/api/v1/profiles").json()] == ["everyone", "ours"]
    assert as_member.get(f"/api/v1/profiles/{ours.pk}").json()["name"] == "ours"
    problem(as_member.get(f"/api/v1/profiles/{theirs.pk}"), 404)


def test_me(as_viewer, team):
    body = as_viewer.get("/api/v1/me").json()
    assert body["user"]["username"] == "viewer"
    assert (body["team"]["slug"], body["team"]["role"], body["can_launch"]) == ("acme", "viewer", False)


def test_a_token_sees_its_own_team_and_a_session_sees_all(member, team, other_team, client):
    Membership.objects.create(team=other_team, user=member, role="viewer")
    as_token = client_for(member, team)
    assert [t["slug"] for t in as_token.get("/api/v1/teams").json()] == ["acme"]
    problem(as_token.get(f"/api/v1/teams/{other_team.pk}"), 404)
    client.force_login(member)
    assert {t["slug"]: t["role"] for t in client.get("/api/v1/teams").json()} == {
        "acme": "member",
        "globex": "viewer",
    }
    assert client.get(f"/api/v1/teams/{other_team.pk}").json()["role"] == "viewer"


def test_every_training_method_carries_its_own_schema_paper_and_objectives(as_viewer):
    listed = {m["name"]: m for m in as_viewer.get("/api/v1/methods?kind=train").json()}
    assert {"full", "freeze", "bitfit", "lora", "loraplus", "qlora", "adalora", "ia3", "prompt_tuning",
            "prefix_tuning", "lokr", "loha", "vera", "lisa", "oft", "boft", "fourierft", "miss", "ln_tuning",
            "mezo", "galore", "spiel", "hft"} <= listed.keys()  # fmt: skip
    regrow = listed["spiel"]["parameters"]["properties"]["method_params"]["properties"]["regrow"]
    assert regrow["enum"] == ["gradient", "sm3"] and regrow["default"] == "gradient"
    assert listed["spiel"]["paper"] == "https://arxiv.org/abs/2401.16405"
    assert listed["hft"]["artifact"] == listed["spiel"]["artifact"] == "model"
    mezo = listed["mezo"]["parameters"]["properties"]["method_params"]["properties"]["eps"]
    assert (mezo["exclusiveMinimum"], mezo["maximum"]) == (0.0, 1.0)
    assert listed["galore"]["artifact"] == "model" and listed["oft"]["artifact"] == "adapter"
    for name, entry in listed.items():
        assert entry["paper"].startswith("https://") and entry["objectives"], name
        groups = entry["parameters"]["properties"]
        assert groups == {g: m.model_json_schema() for g, m in catalogue.get(name).params.items()}
    assert "method_params" not in listed["full"]["parameters"]["properties"]
    lr_ratio = listed["loraplus"]["parameters"]["properties"]["method_params"]["properties"]["lr_ratio"]
    assert lr_ratio["minimum"] == 1 and lr_ratio["description"]
    assert listed["qlora"]["needs_cuda"] and listed["full"]["artifact"] == "model"
    assert "classification" not in listed["prompt_tuning"]["objectives"]


def _create(client, **body):
    return client.post("/api/v1/jobs", body, format="json")


def test_a_job_takes_its_methods_parameters(as_member, tiny_model, dataset):
    params = {"lora": {"r": 4}, "method_params": {"lr_ratio": 8}}
    body = _create(as_member, base_model=tiny_model.pk, dataset=dataset.pk, method="loraplus", params=params)
    assert body.status_code == 201, body.content
    job = Job.objects.get(pk=body.json()["id"])
    assert job.method == "loraplus" and job.params["method_params"] == {"lr_ratio": 8.0, "lr_embedding": 1e-6}
    from jobs.lifecycle import specs

    spec = specs.build_spec(job, 1, None)
    assert spec["method"] == "loraplus" and spec["method_params"]["lr_ratio"] == 8.0


def test_a_bad_method_parameter_is_named(as_member, tiny_model, dataset):
    params = {"method_params": {"n_layers": 0, "bogus": 1}}
    body = _create(as_member, base_model=tiny_model.pk, dataset=dataset.pk, method="lisa", params=params)
    errors = fields(problem(body, 400))
    assert "greater than or equal to 1" in errors["params.method_params.n_layers"]
    assert "params.method_params.bogus" in errors
    body = _create(as_member, base_model=tiny_model.pk, dataset=dataset.pk, method="full",
                   params={"lora": {"r": 4}})  # fmt: skip
    assert "full has no parameter group 'lora'" in fields(problem(body, 400))["params.lora"]


def test_qlora_is_refused_for_a_profile_without_a_gpu(as_member, tiny_model, dataset):
    cpu = ComputeProfile.objects.create(name="cpu-only", gpu_count=0)
    body = _create(as_member, base_model=tiny_model.pk, dataset=dataset.pk, method="qlora",
                   compute_profile=cpu.pk)  # fmt: skip
    assert "needs a CUDA GPU and compute profile cpu-only has none" in fields(problem(body, 400))["method"]


def test_sparse_and_half_fine_tuning_jobs_take_their_parameters(as_member, tiny_model, dataset):
    from jobs.lifecycle import specs

    params = {"method_params": {"density": 0.05, "regrow": "sm3", "save_delta": True}}
    body = _create(as_member, base_model=tiny_model.pk, dataset=dataset.pk, method="spiel", params=params)
    assert body.status_code == 201, body.content
    spec = specs.build_spec(Job.objects.get(pk=body.json()["id"]), 1, None)
    assert spec["method"] == "spiel" and spec["method_params"]["update_interval"] == 50
    assert (spec["method_params"]["density"], spec["method_params"]["regrow"]) == (0.05, "sm3")
    refused = _create(
        as_member, base_model=tiny_model.pk, dataset=dataset.pk, method="spiel",
        params={"method_params": {"density": 0.9}},
    )  # fmt: skip
    assert "less than or equal to 0.5" in fields(problem(refused, 400))["params.method_params.density"]
    body = _create(
        as_member, base_model=tiny_model.pk, dataset=dataset.pk, method="hft",
        params={"method_params": {"period": 0, "train_embeddings": True}},
    )  # fmt: skip
    assert body.status_code == 201, body.content
    assert Job.objects.get(pk=body.json()["id"]).params["method_params"] == {
        "period": 0, "train_embeddings": True, "train_head": False
    }  # fmt: skip
