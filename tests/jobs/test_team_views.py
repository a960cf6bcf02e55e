"""The team page: owners add and remove people and change roles; members and viewers look;
a team always keeps an owner; every change is in the audit log."""

from __future__ import annotations

import pytest

from console.models import AuditLog
from jobs.models import Membership


@pytest.fixture
def carol(django_user_model):
    return django_user_model.objects.create_user(username="carol", email="Carol@Example.com", password="pw")


def logged_in(client, user):
    client.force_login(user)
    return client


def test_everyone_in_the_team_sees_who_is_in_it(client, owner, member, viewer):
    page = logged_in(client, viewer).get("/team/").content.decode()
    assert all(name in page for name in ("owner", "member", "viewer"))
    assert "Add a person" not in page and "Change role" not in page
    assert "Only owners can add people" in page


def test_an_owner_adds_a_person_by_username_or_email(client, owner, carol, django_user_model):
    dave = django_user_model.objects.create_user(username="dave", password="pw")
    logged_in(client, owner).post("/team/members/", {"who": "carol@example.com", "role": "viewer"})
    client.post("/team/members/", {"who": "dave", "role": "member"})
    roles = dict(Membership.objects.filter(user__in=[carol, dave]).values_list("user__username", "role"))
    assert roles == {"carol": "viewer", "dave": "member"}
    entries = list(AuditLog.objects.order_by("pk").values_list("action", "who_name", "target", "details"))
    assert entries == [
        ("team.member_add", "owner", "Acme", {"user": "carol", "role": "viewer"}),
        ("team.member_add", "owner", "Acme", {"user": "dave", "role": "member"}),
    ]


@pytest.mark.parametrize(
    ("who", "message"),
    [
        ("nobody", "No Hone account is called nobody; ask an operator to create one."),
        ("member", "member is already in Acme as member."),
        ("", "Enter the person&#x27;s username or e-mail address."),
    ],
)
def test_adding_someone_who_cannot_be_added_says_why(client, owner, member, who, message):
    response = logged_in(client, owner).post("/team/members/", {"who": who, "role": "member"}, follow=True)
    assert message in response.content.decode()
    assert not AuditLog.objects.exists()


def test_an_owner_changes_a_role_and_removes_a_person(client, owner, member, viewer):
    membership = Membership.objects.get(user=member)
    logged_in(client, owner).post(f"/team/members/{membership.pk}/role/", {"role": "viewer"})
    membership.refresh_from_db()
    assert membership.role == "viewer"
    client.post(f"/team/members/{Membership.objects.get(user=viewer).pk}/remove/")
    assert not Membership.objects.filter(user=viewer).exists()
    entries = list(AuditLog.objects.order_by("pk").values_list("action", "details"))
    assert entries == [
        ("team.member_role", {"user": "member", "from": "member", "to": "viewer"}),
        ("team.member_remove", {"user": "viewer", "role": "viewer"}),
    ]


@pytest.mark.parametrize("who", ["member", "viewer"])
def test_only_owners_change_the_team(client, request, who, owner, carol):
    user = request.getfixturevalue(who)
    target = Membership.objects.get(user=owner)
    logged_in(client, user)
    assert client.post("/team/members/", {"who": "carol", "role": "owner"}).status_code == 403
    assert client.post(f"/team/members/{target.pk}/role/", {"role": "viewer"}).status_code == 403
    assert client.post(f"/team/members/{target.pk}/remove/").status_code == 403
    assert not Membership.objects.filter(user=carol).exists()
    assert Membership.objects.get(pk=target.pk).role == "owner"
    assert not AuditLog.objects.exists()


def test_an_owner_cannot_touch_another_teams_people(client, owner, outsider):
    theirs = Membership.objects.get(user=outsider)
    logged_in(client, owner)
    assert client.post(f"/team/members/{theirs.pk}/role/", {"role": "viewer"}).status_code == 404
    assert client.post(f"/team/members/{theirs.pk}/remove/").status_code == 404
    assert Membership.objects.get(pk=theirs.pk).role == "owner"


def test_the_last_owner_can_neither_step_down_nor_leave(client, owner, member):
    mine = Membership.objects.get(user=owner)
    logged_in(client, owner)
    response = client.post(f"/team/members/{mine.pk}/role/", {"role": "member"}, follow=True)
    refusal = "owner is the team&#x27;s only owner: make someone else an owner first."
    assert refusal in response.content.decode()
    client.post(f"/team/members/{mine.pk}/remove/")
    assert Membership.objects.get(pk=mine.pk).role == "owner"
    assert not AuditLog.objects.exists()


def test_with_another_owner_an_owner_can_leave(client, owner, member):
    Membership.objects.filter(user=member).update(role="owner")
    mine = Membership.objects.get(user=owner)
    response = logged_in(client, owner).post(f"/team/members/{mine.pk}/remove/")
    assert response.url == "/"  # in no team any more
    assert not Membership.objects.filter(user=owner).exists()


def test_an_unknown_role_is_refused(client, owner, member):
    membership = Membership.objects.get(user=member)
    url = f"/team/members/{membership.pk}/role/"
    response = logged_in(client, owner).post(url, {"role": "admin"}, follow=True)
    assert "&#x27;admin&#x27; is not a role" in response.content.decode()
    membership.refresh_from_db()
    assert membership.role == "member"


def test_someone_in_two_teams_switches_between_them(client, owner, other_team):
    Membership.objects.create(team=other_team, user=owner, role="viewer")
    logged_in(client, owner)
    assert "Team Acme" in client.get("/team/").content.decode()
    client.post("/team/switch/", {"team": other_team.pk, "next": "team"})
    page = client.get("/team/").content.decode()
    assert "Team Globex" in page and "You are a viewer here" in page


def test_switching_to_a_team_you_are_not_in_is_a_404(client, owner, other_team):
    assert logged_in(client, owner).post("/team/switch/", {"team": other_team.pk}).status_code == 404
