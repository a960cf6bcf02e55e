"""The sweep form: a non-expert's "find me the best settings", refused next to the field it is about."""

from __future__ import annotations

from jobs.models import Job


def post(client, tiny_model, dataset, **changes):
    data = {
        "base_model": tiny_model.pk,
        "dataset": dataset.pk,
        "objective": "sft",
        "method": "lora",
        "epochs": 1,
        "search": ["learning_rate", "rank"],
        "metric": "eval/loss",
        "trials": 6,
        "parallel": 2,
        "pruner": "median",
        **changes,
    }
    return client.post("/jobs/new/sweep/", data)


def test_it_starts_a_sweep_of_the_chosen_searches(client, member, tiny_model, dataset):
    client.force_login(member)
    assert client.get("/jobs/new/sweep/").status_code == 200
    response = post(client, tiny_model, dataset)
    sweep = Job.objects.get(kind="sweep")
    assert response.status_code == 302 and response["Location"] == f"/jobs/{sweep.pk}/"
    assert set(sweep.params["space"]) == {"training.learning_rate", "lora.r"}
    assert sweep.params["budget"] == {"trials": 6, "parallel": 2}
    assert sweep.params["trial"] == {"training": {"epochs": 1.0}}
    assert "warmup_evals" not in sweep.params  # blank: the default, half of the evaluations


def test_it_takes_a_pruning_warm_up(client, member, tiny_model, dataset):
    client.force_login(member)
    assert post(client, tiny_model, dataset, warmup_evals=3).status_code == 302
    assert Job.objects.get(kind="sweep").params["warmup_evals"] == 3


def test_it_refuses_more_at_once_than_the_quota_next_to_the_field(client, member, team, tiny_model, dataset):
    from jobs.models import ComputeProfile

    team.max_gpus = 1
    team.save()
    ComputeProfile.objects.filter(name="local").update(gpu_count=1, gpu_type="a100")
    ComputeProfile.objects.get_or_create(name="local", defaults={"gpu_count": 1, "gpu_type": "a100"})
    client.force_login(member)
    response = post(client, tiny_model, dataset, parallel=3)
    assert response.status_code == 200
    assert "parallel" in response.context["form"].errors
    assert not Job.objects.exists()


def test_it_refuses_an_empty_search(client, member, tiny_model, dataset):
    client.force_login(member)
    response = post(client, tiny_model, dataset, search=[])
    assert "search" in response.context["form"].errors
    assert not Job.objects.exists()


def test_a_viewer_cannot_start_one(client, viewer, tiny_model, dataset):
    client.force_login(viewer)
    assert post(client, tiny_model, dataset).status_code == 403
    assert not Job.objects.exists()


def test_the_job_list_and_the_console_show_a_running_sweep_and_its_trials(
    client, member, sweep_request, django_user_model, settings
):
    from jobs.launch import launch
    from jobs.sweeps import driver

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    sweep = launch(sweep_request())
    driver.drive(sweep.pk)
    client.force_login(member)
    page = client.get("/jobs/").content.decode()
    assert f"/jobs/{sweep.pk}/" in page and "Find the best settings" in page
    detail = client.get(f"/jobs/{sweep.pk}/")
    assert detail.status_code == 200 and "sweep-trials" in detail.content.decode()
    operator = django_user_model.objects.create_user(username="op", password="pw-op", is_staff=True)
    client.force_login(operator)
    for url in ("/console/", "/console/usage/", "/console/capacity/"):
        assert client.get(url).status_code == 200, url
