"""An evolved merge through the one launch path and the reconciler's passes (the fake trainer): refused
at its places before anything is created; each trial a merge job, then the evaluate job that scores it,
launched once; the trial's value read from that evaluation."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs.data.datasets import create_dataset
from jobs.launch import LaunchRefused, launch
from jobs.lifecycle import services
from jobs.models import Job
from jobs.sweeps import driver, results
from tests.conftest import jsonl_bytes
from tests.sweeps.test_driver import run_to_end, states, sweep_to_end

FAKE_PYTHON = Path(__file__).resolve().parents[1] / "support" / "fake-python"


@pytest.fixture(autouse=True)
def _fake_trainer(settings):
    settings.HONE_TRAINER_PYTHON = str(FAKE_PYTHON)
    settings.HONE_INGEST_URL = ""
    settings.HONE_LOCAL_SLOTS = 8


def places(exc: LaunchRefused) -> dict[str, str]:
    return {".".join(map(str, p.loc)): p.message for p in exc.problems}


def test_an_evolved_merge_is_a_running_sweep_with_a_merge_spec_as_its_trial(merge_sweep_request):
    sweep = launch(merge_sweep_request())
    assert (sweep.kind, sweep.status, sweep.method) == ("sweep", "running", "linear")
    assert sweep.params["trial_kind"] == "merge" and sweep.attempts.count() == 0
    assert sorted(sweep.inputs.values_list("role", flat=True)) == ["dataset", "model", "model"]


@pytest.mark.parametrize(
    ("changes", "where", "words"),
    [
        ({"space": {}}, "space", "at least one place"),
        ({"space": {"models.2.weight": {"low": 0, "high": 1}}}, "space.models.2.weight", "models 0 to 1"),
        ({"space": {"models.0.weight": {"low": -1, "high": 1}}}, "space.models.0.weight", ">= 0"),
        ({"space": {"params.density": {"low": 0.1, "high": 1}}}, "space.params.density", "no parameter"),
        ({"space": {"lora.r": {"choices": [2]}}}, "space.lora.r", "models.<i>.weight and params"),
        ({"metric": "eval/accuracy"}, "metric", "eval/perplexity"),
        ({"dataset": None}, "dataset", "evaluation data"),
        ({"trial": {"method": "greedy_soup"}}, "trial.method", "picks its own mix"),
        ({"trial_kind": "quantize"}, "trial_kind", "train or a merge"),
    ],
)
def test_it_refuses_a_bad_evolved_merge_naming_the_place(merge_sweep_request, changes, where, words):
    with pytest.raises(LaunchRefused) as refused:
        launch(merge_sweep_request(**changes))
    found = places(refused.value)
    assert where in found, found
    assert words in found[where]
    assert not Job.objects.exists()


def test_it_checks_a_ties_density_against_the_methods_bounds(merge_sweep_request, tiny_model):
    space = {"params.density": {"low": 0.2, "high": 1.5}, "models.1.weight": {"low": -1, "high": 1}}
    with pytest.raises(LaunchRefused) as refused:
        launch(merge_sweep_request(trial={"method": "ties"}, base=tiny_model, space=space))
    found = places(refused.value)
    assert list(found) == ["space.params.density"]  # TIES weights are signed: -1 is fine
    assert "high 1.5" in found["space.params.density"] and "(0, 1]" in found["space.params.density"]
    assert not Job.objects.exists()


def test_it_refuses_evaluation_data_of_the_wrong_kind(merge_sweep_request, team, member):
    rows = [{"text": f"row {i}", "label": "yes" if i % 2 else "no"} for i in range(20)]
    labelled = create_dataset(
        team=team, user=member, name="labels", upload=SimpleUploadedFile("l.jsonl", jsonl_bytes(rows))
    )
    with pytest.raises(LaunchRefused) as refused:
        launch(merge_sweep_request(dataset=labelled))
    assert "holds classification data" in places(refused.value)["dataset"]
    assert not Job.objects.filter(kind="sweep").exists()


def test_it_refuses_another_teams_model(merge_sweep_request, half_models, other_team):
    half_models[1].team = other_team
    half_models[1].save()
    with pytest.raises(LaunchRefused) as refused:
        launch(merge_sweep_request())
    assert "not available to Acme" in places(refused.value)["models.1"]
    assert not Job.objects.exists()


def test_each_trial_is_a_merge_then_its_evaluation_launched_once(merge_sweep_request):
    sweep = launch(merge_sweep_request(budget={"trials": 2, "parallel": 2}, compare_preset=False))
    driver.drive(sweep.pk)
    merges = list(sweep.trials.order_by("trial_number"))
    assert [(m.kind, m.trial_number, m.method) for m in merges] == [("merge", n, "linear") for n in (0, 1)]
    point = {t.number: t.params for t in driver.studies.load(sweep).get_trials(deepcopy=False)}
    for merge in merges:
        weights = [i.weight for i in merge.inputs.filter(role="model").order_by("position")]
        assert weights == [pytest.approx(point[merge.trial_number]["models.0.weight"]), None]
    run_to_end(merges[0])
    driver.drive(sweep.pk)
    driver.drive(sweep.pk)  # a second pass launches no second evaluation
    evaluation = merges[0].trials.get()
    assert (evaluation.kind, evaluation.trial_number) == ("evaluate", 0)
    assert evaluation.inputs.get(role="dataset").dataset_id == sweep.dataset_id
    assert states(sweep) == ["RUNNING", "RUNNING"]
    run_to_end(evaluation)
    driver.drive(sweep.pk)
    trials = driver.studies.load(sweep).get_trials(deepcopy=False)
    assert (trials[0].state.name, trials[0].value) == ("COMPLETE", 2.5)  # the candidate's perplexity
    found = results.summary(sweep)
    assert (found.trials[0].job, found.trials[0].evaluation) == (merges[0].pk, evaluation.pk)


def test_the_preset_is_the_merge_as_given_scored_the_same_way(merge_sweep_request):
    sweep = launch(merge_sweep_request(budget={"trials": 1, "parallel": 1}))
    sweep_to_end(sweep)
    assert sweep.status == "succeeded", sweep.error
    found = results.summary(sweep)
    assert found.preset.value == 2.5 and found.preset.evaluation is not None
    assert found.preset.params == {"models.0.weight": None, "models.1.weight": None}
    assert found.gain == 0.0


def test_cancelling_an_evolved_merge_stops_the_evaluations_too(merge_sweep_request):
    sweep = launch(merge_sweep_request(budget={"trials": 1, "parallel": 1}, compare_preset=False))
    driver.drive(sweep.pk)
    run_to_end(sweep.trials.get())
    driver.drive(sweep.pk)
    evaluation = sweep.trials.get().trials.get()
    assert evaluation.status == "queued"
    services.cancel(sweep)
    driver.drive(evaluation.pk)  # a pass asked for by the evaluation's own change drives its sweep
    evaluation.refresh_from_db()
    assert evaluation.status == "cancelled"


def merge_body(half_models, data, **changes) -> dict:
    return {
        "kind": "sweep",
        "trial_kind": "merge",
        "method": "linear",
        "models": [{"model": m.pk} for m in half_models],
        "dataset": data.pk,
        "space": {"models.0.weight": {"low": 0.25, "high": 4, "log": True}},
        "metric": "eval/perplexity",
        "budget": {"trials": 1, "parallel": 1},
        **changes,
    }


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"space": {"models.0.weight": {"low": 0, "high": 11}}}, "space.models.0.weight"),
        ({"space": {"params.density": {"low": 0.1, "high": 0.9}}}, "space.params.density"),
        ({"metric": "eval/accuracy"}, "metric"),
        ({"models": []}, "models"),
        ({"method": "lora"}, "method"),
        ({"params": {"normalize": "sometimes"}}, "params.normalize"),
    ],
)
def test_the_api_refuses_a_bad_evolved_merge_naming_the_path(
    member, team, half_models, skewed_eval_set, changes, path
):
    from tests.api.helpers import client_for

    response = client_for(member, team).post(
        "/api/v1/jobs", merge_body(half_models, skewed_eval_set, **changes), format="json"
    )
    assert response.status_code in (400, 422), response.content
    assert path in str(response.json()), response.json()
    assert not Job.objects.exists()


def test_the_api_and_the_page_show_an_evolved_merges_trials(
    member, team, client, half_models, skewed_eval_set
):
    from tests.api.helpers import client_for

    api = client_for(member, team)
    response = api.post("/api/v1/jobs", merge_body(half_models, skewed_eval_set), format="json")
    assert response.status_code == 201, response.content
    sweep = Job.objects.get(pk=response.json()["id"])
    assert (sweep.params["trial_kind"], sweep.params["direction"]) == ("merge", "minimize")
    sweep_to_end(sweep)
    assert sweep.status == "succeeded", sweep.error
    result = api.get(f"/api/v1/jobs/{sweep.pk}/trials").json()
    merge = sweep.trials.get(trial_number=0)
    first = result["trials"][0]
    assert (first["job"], first["evaluation"]) == (merge.pk, merge.trials.get().pk)
    assert result["best"]["value"] == 2.5 and result["preset"]["evaluation"] is not None
    saved = api.post(f"/api/v1/jobs/{sweep.pk}/trials/best/preset", {}, format="json")
    assert saved.status_code == 409 and "evolved merge" in saved.json()["detail"]
    client.force_login(member)
    page = client.get(f"/jobs/{sweep.pk}/").content.decode()
    assert "Open the best merge and its model" in page and "Train with the best settings" not in page
    assert f'href="/jobs/{merge.trials.get().pk}/"' in page and "<code>models.0.weight</code>" in page


def test_a_ties_trial_takes_the_points_density_and_weights(merge_sweep_request, tiny_model):
    space = {"params.density": {"low": 0.2, "high": 1.0}, "models.1.weight": {"low": -1, "high": 1}}
    trial = {"method": "ties", "params": {"scaling": 0.5}}
    sweep = launch(merge_sweep_request(trial=trial, base=tiny_model, space=space, compare_preset=False))
    driver.drive(sweep.pk)
    point = {t.number: t.params for t in driver.studies.load(sweep).get_trials(deepcopy=False)}
    for merge in sweep.trials.all():
        asked = point[merge.trial_number]
        assert merge.params["method"] == "ties" and merge.params["params"]["scaling"] == 0.5
        assert merge.params["params"]["density"] == pytest.approx(asked["params.density"])
        inputs = list(merge.inputs.order_by("role", "position"))
        assert [(i.role, i.model_id) for i in inputs][0] == ("base", tiny_model.pk)
        weights = [i.weight for i in inputs if i.role == "model"]
        assert weights == [None, pytest.approx(asked["models.1.weight"])]
