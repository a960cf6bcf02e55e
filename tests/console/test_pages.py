"""What the console's read-only pages show: usage against quotas, and the audit log."""

from __future__ import annotations

from console import audit
from console.models import AuditLog
from jobs.lifecycle import queue
from tests.console.helpers import past_usage


def test_usage_shows_each_team_against_its_quotas(operator_client, team, other_team, dataset):
    team.max_gpus = 4
    team.gpu_hours_per_month = 1000
    team.max_storage_bytes = dataset.bytes * 2
    team.save()
    past_usage(team, hours=0.5, gpus=4, running=True)
    page = operator_client.get("/console/usage/").content.decode()
    assert 'aria-label="GPUs in use: 4 of 4"' in page and "(at quota)" in page
    hours = round(queue.team_usage([team])[0].gpu_hours_this_month, 1)  # 2.0 but at the turn of a month
    assert f'aria-label="GPU-hours this month: {hours} of 1000"' in page
    assert "1 running" in page
    # Globex has no quotas at all.
    assert page.count("no quota") >= 4


def test_the_audit_log_lists_and_filters_entries(operator_client, operator, team):
    audit.record(operator, "profile.hold", "gpu-a100", target_type="compute profile")
    audit.record(operator, "job.cancel", "#7 fine-tune", target_type="job", details={"was": "running"})
    audit.record(None, "team.member_add", team, details={"user": "carol"})
    page = operator_client.get("/console/audit/").content.decode()
    newest_first = [page.index(action) for action in ("team.member_add", "job.cancel", "profile.hold")]
    assert newest_first == sorted(newest_first)
    assert "system" in page and "was: running" in page
    filtered = operator_client.get("/console/audit/", {"action": "job."}).content.decode()
    assert "job.cancel" in filtered and "profile.hold" not in filtered
    searched = operator_client.get("/console/audit/", {"q": "a100"}).content.decode()
    assert "profile.hold" in searched and "job.cancel" not in searched
    assert AuditLog.objects.count() == 3  # looking at the log writes nothing


def test_the_queue_refreshes_as_a_fragment(operator_client, team):
    page = operator_client.get("/console/", headers={"HX-Request": "true"}).content.decode()
    assert page.lstrip().startswith('<div id="console-queue"')
    assert "<html" not in page
