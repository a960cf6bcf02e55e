from django.http import Http404

from jobs.teams.access import current_membership


def current_team(request) -> dict:
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    try:
        membership = current_membership(request)
    except Http404:
        return {}
    return {"membership": membership, "team": membership.team}
