"""The caller and their teams and tokens; the method catalogue; compute profiles."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api import tokens
from api.auth import TeamMember
from api.base import ApiView, read_query
from api.models import ApiToken
from api.serializers.account import (
    ComputeProfileSerializer,
    MeSerializer,
    MethodSerializer,
    TeamSerializer,
    TokenSerializer,
)
from jobs.models import ComputeProfile, Job, Membership, Team
from trainers import catalogue, chain_methods


def _team_row(membership: Membership) -> dict:
    team = membership.team
    return {
        "id": team.pk,
        "name": team.name,
        "slug": team.slug,
        "role": membership.role,
        "created_at": team.created_at,
    }


class Me(ApiView):
    serializer_class = MeSerializer
    pagination_class = None

    @extend_schema(summary="Who is calling, for which team, with which role")
    def get(self, request: Request) -> Response:
        token = request.auth if isinstance(request.auth, ApiToken) else None
        data = {
            "user": request.user,
            "team": _team_row(self.membership),
            "can_launch": self.membership.can_launch,
            "auth": "token" if token else "session",
            "token": token,
        }
        return Response(MeSerializer(data).data)


class TeamScoped(ApiView):
    serializer_class = TeamSerializer
    pagination_class = None

    def memberships(self) -> QuerySet[Membership]:
        """A token sees its own team only; a browser session, every team of its user."""
        mine = Membership.objects.filter(user=self.request.user).select_related("team").order_by("team__name")
        if isinstance(self.request.auth, ApiToken):
            mine = mine.filter(team_id=self.request.auth.team_id)
        return mine


class TeamList(TeamScoped):
    @extend_schema(responses=TeamSerializer(many=True), summary="Your teams")
    def get(self, request: Request) -> Response:
        return Response(TeamSerializer([_team_row(m) for m in self.memberships()], many=True).data)


class TeamDetail(TeamScoped):
    @extend_schema(summary="One of your teams")
    def get(self, request: Request, team_id: int) -> Response:
        membership = self.memberships().filter(team_id=team_id).first()
        if membership is None:
            raise exceptions.NotFound(f"You have no team #{team_id}.")
        return Response(TeamSerializer(_team_row(membership)).data)


def all_methods(kind: str | None = None) -> list[dict]:
    """Training methods (trainers.catalogue) and those of the jobs after training."""
    trained = [entry | {"details": {}} for entry in catalogue.describe(kind)]
    return trained + chain_methods.describe(kind)


class MethodFilter(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=Job.Kind.choices, required=False, help_text="Only this job kind's."
    )


class MethodList(ApiView):
    serializer_class = MethodSerializer
    pagination_class = None

    @extend_schema(
        parameters=[MethodFilter], responses=MethodSerializer(many=True), summary="The method catalogue"
    )
    def get(self, request: Request) -> Response:
        return Response(all_methods(read_query(MethodFilter, request).get("kind")))


class MethodDetail(ApiView):
    serializer_class = MethodSerializer

    @extend_schema(summary="One method, with the JSON schema of its parameters")
    def get(self, request: Request, method: str) -> Response:
        found = next((entry for entry in all_methods() if entry["name"] == method), None)
        if found is None:
            known = ", ".join(entry["name"] for entry in all_methods())
            raise exceptions.NotFound(f"unknown method {method!r}; known methods: {known}")
        return Response(found)


class ProfileScoped(ApiView):
    serializer_class = ComputeProfileSerializer
    pagination_class = None

    def visible(self) -> QuerySet[ComputeProfile]:
        """Profiles open to every team (no allowed teams), and those that allow this one."""
        team: Team = self.team
        return ComputeProfile.objects.filter(Q(allowed_teams__isnull=True) | Q(allowed_teams=team)).distinct()


class ProfileList(ProfileScoped):
    @extend_schema(
        responses=ComputeProfileSerializer(many=True), summary="Compute profiles your team may use"
    )
    def get(self, request: Request) -> Response:
        return Response(ComputeProfileSerializer(self.visible(), many=True).data)


class ProfileDetail(ProfileScoped):
    @extend_schema(summary="One compute profile")
    def get(self, request: Request, profile_id: int) -> Response:
        return Response(
            ComputeProfileSerializer(self.get_for_team(self.visible(), profile_id, "profile")).data
        )


class TokenScoped(ApiView):
    """Your own tokens for the acting team. Viewers may revoke theirs too."""

    serializer_class = TokenSerializer
    permission_classes = [TeamMember]
    pagination_class = None

    def mine(self) -> QuerySet[ApiToken]:
        return ApiToken.objects.filter(user=self.request.user, team=self.team)


class TokenList(TokenScoped):
    @extend_schema(
        responses=TokenSerializer(many=True),
        summary="Your tokens for this team (tokens are created on the API tokens page)",
    )
    def get(self, request: Request) -> Response:
        return Response(TokenSerializer(self.mine(), many=True).data)


class TokenDetail(TokenScoped):
    @extend_schema(summary="One of your tokens")
    def get(self, request: Request, token_id: int) -> Response:
        return Response(TokenSerializer(self.get_for_team(self.mine(), token_id, "token of yours")).data)

    @extend_schema(summary="Revoke one of your tokens (it stops working at once)")
    def delete(self, request: Request, token_id: int) -> Response:
        tokens.revoke(self.get_for_team(self.mine(), token_id, "token of yours"))
        return Response(status=204)
