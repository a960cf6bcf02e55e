"""The Django admin: every model registered, records that must not be edited read-only, and
every admin change in the audit log."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin

from console.models import AuditLog
from jobs.models import ComputeProfile, Job, JobTransition, Team
from tests.console.helpers import gpu_profile, queued_job


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser(username="root", password="pw", email="r@example.com")


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.mark.parametrize("app", ["jobs", "console"])
def test_every_model_has_an_admin_with_search_or_filters(app):
    for model in apps.get_app_config(app).get_models():
        model_admin = admin.site._registry.get(model)
        assert model_admin is not None, f"{model.__name__} has no admin"
        assert model_admin.search_fields or model_admin.list_filter, f"{model.__name__} cannot be searched"


@pytest.mark.parametrize("model", [AuditLog, JobTransition])
def test_records_of_what_happened_cannot_be_edited_in_the_admin(model, rf, superuser):
    request = rf.get("/")
    request.user = superuser
    model_admin = admin.site._registry[model]
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)


def test_the_audit_log_cannot_be_deleted_in_the_admin(rf, superuser):
    request = rf.get("/")
    request.user = superuser
    assert not admin.site._registry[AuditLog].has_delete_permission(request)


def test_admin_additions_changes_and_deletions_are_audited(admin_client, superuser):
    admin_client.post(
        "/admin/jobs/team/add/",
        {
            "name": "Initech",
            "slug": "initech",
            "max_gpus": "4",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    team = Team.objects.get(slug="initech")
    assert team.max_gpus == 4
    admin_client.post(
        f"/admin/jobs/team/{team.pk}/change/",
        {
            "name": "Initech",
            "slug": "initech",
            "max_gpus": "8",
            "gpu_hours_per_month": "100",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    admin_client.post(f"/admin/jobs/team/{team.pk}/delete/", {"post": "yes"})
    assert not Team.objects.filter(slug="initech").exists()
    entries = list(AuditLog.objects.order_by("pk").values_list("action", "who_name", "target_type", "target"))
    assert entries == [
        ("admin.add", "root", "team", "Initech"),
        ("admin.change", "root", "team", "Initech"),
        ("admin.delete", "root", "team", "Initech"),
    ]
    change = AuditLog.objects.get(action="admin.change")
    assert "Max gpus" in change.details["change"] and "Gpu hours per month" in change.details["change"]


def test_deleting_several_objects_at_once_audits_each(admin_client):
    profiles = [gpu_profile(f"p{i}") for i in range(3)]
    response = admin_client.post(
        "/admin/jobs/computeprofile/",
        {"action": "delete_selected", "_selected_action": [p.pk for p in profiles], "post": "yes"},
    )
    assert response.status_code == 302
    assert not ComputeProfile.objects.filter(name__startswith="p").exists()
    deleted = AuditLog.objects.filter(action="admin.delete").values_list("target", flat=True)
    assert sorted(deleted) == ["p0", "p1", "p2"]
    assert AuditLog.objects.count() == 3


def test_the_delete_confirmation_page_records_nothing(admin_client):
    profile = gpu_profile()
    ask = {"action": "delete_selected", "_selected_action": [profile.pk]}
    assert admin_client.post("/admin/jobs/computeprofile/", ask).status_code == 200  # "are you sure?"
    assert ComputeProfile.objects.filter(pk=profile.pk).exists()
    assert not AuditLog.objects.exists()


def test_admin_actions_hold_profiles_and_cancel_jobs_audited(admin_client, team, monkeypatch):
    from jobs.tasks import stop_attempts

    monkeypatch.setattr(stop_attempts, "delay", lambda job_id: None)
    profile = gpu_profile()
    admin_client.post("/admin/jobs/computeprofile/", {"action": "hold", "_selected_action": [profile.pk]})
    profile.refresh_from_db()
    assert profile.is_held
    job = queued_job(team, profile=profile)
    admin_client.post("/admin/jobs/job/", {"action": "cancel", "_selected_action": [job.pk]})
    job.refresh_from_db()
    assert job.status == "cancelled"
    actions = list(AuditLog.objects.order_by("pk").values_list("action", flat=True))
    assert actions == ["profile.hold", "job.cancel"]


def test_saving_a_job_in_the_admin_writes_only_what_changed(admin_client, team):
    job = queued_job(team)
    page = admin_client.get(f"/admin/jobs/job/{job.pk}/change/")
    form = page.context["adminform"].form
    data = {name: form[name].value() or "" for name in form.fields}
    data |= {"priority": "7", "params": '{"lora": {"r": 4}, "training": {"epochs": 1}}'}
    data |= {"attempts-TOTAL_FORMS": "0", "attempts-INITIAL_FORMS": "0"}
    Job.objects.filter(pk=job.pk).update(status="starting")  # the lifecycle moves on meanwhile
    response = admin_client.post(f"/admin/jobs/job/{job.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    job.refresh_from_db()
    assert (job.priority, job.status) == (7, "starting")
