"""The models page: built-in models and the team's own, never another team's."""

from __future__ import annotations

from jobs.models import ModelAsset


def make_model(name: str, team=None, **fields) -> ModelAsset:
    source = "builtin" if team is None else "local"
    defaults = {"task": "causal-lm", "path": f"/models/{name}", "architecture": "LlamaForCausalLM"}
    return ModelAsset.objects.create(name=name, team=team, source=source, **(defaults | fields))


def test_it_lists_builtin_and_own_models_with_details(client, member, team):
    make_model("shared-llama", parameter_count=1_100_000_000)
    make_model("acme-tuned", team=team, parameter_count=22_700_000)
    make_model("minilm", task="sequence-classification", architecture="BertModel")
    client.force_login(member)
    body = client.get("/models/").content.decode()
    assert "shared-llama" in body
    assert "1.1 B" in body
    assert "acme-tuned" in body
    assert "22.7 M" in body
    assert "classification" in body
    assert "BertModel" in body


def test_it_hides_other_teams_models(client, member, other_team):
    make_model("globex-secret", team=other_team)
    client.force_login(member)
    assert "globex-secret" not in client.get("/models/").content.decode()


def test_empty_state_explains_where_models_come_from(client, member):
    client.force_login(member)
    assert "No models yet" in client.get("/models/").content.decode()
