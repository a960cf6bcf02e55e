"""Who may do what, for every URL: the expected outcome of each cell of the authorization
matrix (tests/reliability/test_authz_matrix.py).

A row is one route (as written in the URLconfs) and method; its six cells are the outcomes
for the roles, in this order:

    anonymous  outsider  viewer  member  owner  staff

- anonymous: not signed in;
- outsider: owner of another team (Globex), looking at Acme's objects;
- viewer, member, owner: of Acme, the team whose objects fill the URL;
- staff: an operator (``is_staff``) who belongs to no team.

Outcomes: an HTTP status (``200``, ``302``, ``400``, ``403``, ``404``, ``405``…), ``login``
(a redirect to the sign-in page) or ``admin-login`` (to the admin's). API requests carry a
team token (staff, who has no team, signs in with a session). POSTs send an empty body, so
``400`` means "allowed, but the body is not valid", and ``200`` on a form page means the form
came back with its errors.
"""

from __future__ import annotations

import re

Rule = dict[str, str]


def same(cells: str) -> Rule:
    """GET and POST alike (a page that renders for both)."""
    return {"GET": cells, "POST": cells}


def post_only(cells: str, refused: str = "login 405 405 405 405 405") -> Rule:
    """An action: GET is refused (405 once signed in), POST gets ``cells``."""
    return {"GET": refused, "POST": cells}


#                         anonymous outsider viewer member owner staff
# --- UI (a browser session)
TEAM_PAGE = same("login 200 200 200 200 404")  # the caller's own team (the outsider sees Globex's)
TEAM_OBJECT = same("login 404 200 200 200 404")  # one of Acme's objects: 404 outside Acme
LAUNCH_FORM = {"GET": "login 200 200 200 200 404", "POST": "login 200 403 200 200 404"}  # POST: form errors
LAUNCH = post_only("login 404 403 302 302 404")  # members and owners act; viewers are refused
OWNER_ACTION = post_only("login 404 403 403 302 404")
WIZARD_STEP = same("login 302 302 302 302 404")  # no earlier answers: back to the first step
CONSOLE_PAGE = same("login 404 404 404 404 200")  # operators only; a 404 for everyone else
CONSOLE_ACTION = post_only("login 404 404 404 404 302", "login 404 404 404 404 405")
# --- API (a team token; staff, in no team, a session)
API_READ = {"GET": "401 200 200 200 200 403", "POST": "401 405 403 405 405 403"}  # the team's own list
API_OBJECT = {"GET": "401 404 200 200 200 403", "POST": "401 405 403 405 405 403"}
API_FINISHED_JOB_ACTION = {"GET": "401 405 405 405 405 403", "POST": "401 404 403 409 409 403"}
API_NEW_JOB_FROM = {"GET": "401 405 405 405 405 403", "POST": "401 404 403 201 201 403"}
OPENAI_OBJECT = {"GET": "401 404 200 200 200 401", "POST": "401 405 403 405 405 401"}
PUBLIC = {"GET": "200 200 200 200 200 200", "POST": "405 405 405 405 405 405"}
NOWHERE = same("404 404 404 404 404 404")

EXPECTED: dict[str, Rule] = {
    # --- probes, sign-in
    "healthz": PUBLIC,
    "readyz": PUBLIC,
    "favicon.ico": same("301 301 301 301 301 301"),  # a redirect to the static icon, for everyone
    "login/": same("200 200 200 200 200 200"),
    "logout/": {"GET": "405 405 405 405 405 405", "POST": "login login login login login login"},
    # --- jobs
    "": TEAM_PAGE,
    "jobs/": TEAM_PAGE,
    "jobs/new/": LAUNCH_FORM,
    "jobs/new/quantize/": LAUNCH_FORM,
    "jobs/new/evaluate/": LAUNCH_FORM,
    "jobs/new/merge/": LAUNCH_FORM,
    "jobs/new/curate/": LAUNCH_FORM,
    "jobs/new/sweep/": LAUNCH_FORM,
    "jobs/guided/": TEAM_PAGE,
    "jobs/guided/data/": WIZARD_STEP,
    "jobs/guided/model/": WIZARD_STEP,
    "jobs/guided/method/": WIZARD_STEP,
    "jobs/guided/review/": WIZARD_STEP,
    "jobs/compare/": TEAM_PAGE,
    "jobs/<int:pk>/": TEAM_OBJECT,
    "jobs/<int:pk>/live/": TEAM_OBJECT,
    "jobs/<int:pk>/cancel/": LAUNCH,
    "jobs/<int:pk>/retry/": LAUNCH,
    "jobs/<int:pk>/save-preset/": LAUNCH,  # a sweep's best trial; any other job: back with a message
    # Continue training from this job's adapter: a form (POST with no fields: its errors).
    "jobs/<int:pk>/continue/": {"GET": "login 404 200 200 200 404", "POST": "login 404 403 200 200 404"},
    "jobs/<int:pk>/outputs/<int:model_id>/evaluate/": LAUNCH,
    "jobs/<int:pk>/outputs/<int:model_id>/merge/": LAUNCH,
    "jobs/<int:pk>/artifacts/<int:artifact_id>/download/": TEAM_OBJECT,
    # --- datasets, models, playground
    "datasets/": TEAM_PAGE,
    "datasets/new/": LAUNCH_FORM,
    "datasets/<int:pk>/": TEAM_OBJECT,
    "datasets/<int:pk>/golden/": LAUNCH,  # mark golden, or not
    "models/": TEAM_PAGE,
    "models/<int:pk>/playground/": TEAM_OBJECT,
    # Viewers may try a model (it changes nothing); the empty prompt is a 400.
    "models/<int:pk>/playground/stream/": post_only("login 404 400 400 400 404"),
    # --- team page: owners manage people (the outsider adds to their own team: 302 with the error)
    "team/": TEAM_PAGE,
    "team/members/": post_only("login 302 403 403 302 404"),
    "team/members/<int:pk>/role/": OWNER_ACTION,
    "team/evaluation/": post_only("login 302 403 403 302 404"),  # owners set the forgetting threshold
    "team/members/<int:pk>/remove/": OWNER_ACTION,
    "team/presets/<int:pk>/rename/": LAUNCH,  # the team's saved presets: members and owners
    "team/presets/<int:pk>/delete/": LAUNCH,
    "team/switch/": post_only("login 404 404 404 404 404"),  # no team named: 404
    # --- settings: everyone manages their own tokens; owners manage webhooks
    "settings/tokens/": TEAM_PAGE,
    "settings/tokens/<int:pk>/revoke/": post_only("login 404 404 404 302 404"),  # the owner's token
    "settings/webhooks/": {"GET": "login 200 200 200 200 404", "POST": "login 200 403 403 200 404"},
    "settings/webhooks/<int:pk>/": TEAM_OBJECT,
    "settings/webhooks/<int:pk>/delete/": OWNER_ACTION,
    "settings/webhooks/<int:pk>/rotate/": OWNER_ACTION,
    # --- operators' console
    "console/": CONSOLE_PAGE,
    "console/capacity/": CONSOLE_PAGE,
    "console/usage/": CONSOLE_PAGE,
    "console/profiles/": CONSOLE_PAGE,
    "console/orphans/": CONSOLE_PAGE,
    "console/audit/": CONSOLE_PAGE,
    "console/jobs/<int:pk>/cancel/": CONSOLE_ACTION,
    "console/jobs/<int:pk>/requeue/": CONSOLE_ACTION,
    "console/jobs/<int:pk>/priority/": CONSOLE_ACTION,
    "console/profiles/<int:pk>/hold/": CONSOLE_ACTION,
    "console/profiles/<int:pk>/resume/": CONSOLE_ACTION,
    "console/drain/": CONSOLE_ACTION,
    "console/resume-all/": CONSOLE_ACTION,
    # --- API. Trainers' event ingest takes the attempt's own token, never a person's.
    "api/v1/attempts/<int:job_id>/<int:number>/events": {
        "GET": "405 405 405 405 405 405",
        "POST": "401 401 401 401 401 401",
    },
    "api/v1/me": API_READ,
    "api/v1/teams": API_READ,
    "api/v1/teams/<int:team_id>": API_OBJECT,
    "api/v1/tokens": {"GET": "401 200 200 200 200 403", "POST": "401 405 405 405 405 403"},
    # Tokens are personal: the owner's token is a 404 to everyone else, in the team or not.
    "api/v1/tokens/<int:token_id>": {
        "GET": "401 404 404 404 200 403",
        "POST": "401 405 405 405 405 403",
        "DELETE": "401 404 404 404 204 403",
    },
    "api/v1/methods": API_READ,
    "api/v1/methods/<str:method>": API_READ,  # the catalogue is the same for every team
    "api/v1/profiles": API_READ,
    "api/v1/profiles/<int:profile_id>": API_OBJECT,  # a profile only Acme may use
    "api/v1/datasets": {"GET": "401 200 200 200 200 403", "POST": "401 415 403 415 415 403"},  # JSON: 415
    # The dataset is used by the job: deleting it is a conflict.
    # PATCH with an empty body: allowed, but golden is required (400).
    "api/v1/datasets/<int:dataset_id>": API_OBJECT
    | {"DELETE": "401 404 403 409 409 403", "PATCH": "401 404 403 400 400 403"},
    "api/v1/models": {"GET": "401 200 200 200 200 403", "POST": "401 400 403 400 400 403"},
    # A job's output is kept for lineage: nobody deletes it.
    "api/v1/models/<int:model_id>": API_OBJECT | {"DELETE": "401 404 403 403 403 403"},
    "api/v1/jobs": {"GET": "401 200 200 200 200 403", "POST": "401 400 403 400 400 403"},
    "api/v1/jobs/<int:job_id>": API_OBJECT,
    "api/v1/jobs/<int:job_id>/cancel": API_FINISHED_JOB_ACTION,
    "api/v1/jobs/<int:job_id>/retry": API_FINISHED_JOB_ACTION,  # only failed jobs are retried
    "api/v1/jobs/<int:job_id>/clone": API_NEW_JOB_FROM,
    "api/v1/jobs/<int:job_id>/continue": API_NEW_JOB_FROM,  # training again from its adapter
    "api/v1/jobs/<int:job_id>/metrics": API_OBJECT,
    "api/v1/jobs/<int:job_id>/trials": API_OBJECT,  # a sweep's; other jobs have none (an empty list)
    "api/v1/jobs/<int:job_id>/trials/best/preset": API_FINISHED_JOB_ACTION,  # no sweep, no best: 409
    "api/v1/presets": API_READ,
    # A team preset: PATCH renames (an empty body: 400), DELETE removes; members and owners.
    "api/v1/presets/<int:preset_id>": API_OBJECT
    | {"PATCH": "401 404 403 400 400 403", "DELETE": "401 404 403 204 204 403"},
    "api/v1/jobs/<int:job_id>/logs": API_OBJECT,
    "api/v1/jobs/<int:job_id>/samples": API_OBJECT,
    "api/v1/jobs/<int:job_id>/evaluation": API_OBJECT,
    "api/v1/jobs/<int:job_id>/artifacts": API_OBJECT,
    "api/v1/jobs/<int:job_id>/artifacts/<int:artifact_id>": API_OBJECT,
    "api/v1/jobs/<int:job_id>/artifacts/<int:artifact_id>/download": API_OBJECT,
    "api/v1/webhooks": {"GET": "401 200 200 200 200 403", "POST": "401 400 403 403 400 403"},
    "api/v1/webhooks/<int:webhook_id>": {
        "GET": "401 404 200 200 200 403",
        "POST": "401 405 403 403 405 403",
        "DELETE": "401 404 403 403 204 403",
    },
    "api/v1/webhooks/<int:webhook_id>/deliveries": {
        "GET": "401 404 200 200 200 403",
        "POST": "401 405 403 403 405 403",
    },
    "api/v1/schema/": PUBLIC,  # the OpenAPI document and its page hold no team data
    "api/v1/docs/": PUBLIC,
    "api/v1/^[\\s\\S]*$": NOWHERE,
    # --- the OpenAI-compatible API: the same team tokens as /api/ (no browser session, so staff, who
    # has only a session, is a 401 like anyone without a key); another team's objects are 404s.
    "openai/v1/files": {"GET": "401 200 200 200 200 401", "POST": "401 415 403 415 415 401"},  # multipart
    "openai/v1/files/<str:file_id>": OPENAI_OBJECT | {"DELETE": "401 404 403 400 400 401"},  # a job used it
    "openai/v1/files/<str:file_id>/content": OPENAI_OBJECT,
    "openai/v1/fine_tuning/jobs": {"GET": "401 200 200 200 200 401", "POST": "401 400 403 400 400 401"},
    "openai/v1/fine_tuning/jobs/<str:job_id>": OPENAI_OBJECT,
    "openai/v1/fine_tuning/jobs/<str:job_id>/cancel": {  # the job has finished: nothing to cancel
        "GET": "401 405 405 405 405 401",
        "POST": "401 404 403 400 400 401",
    },
    "openai/v1/fine_tuning/jobs/<str:job_id>/events": OPENAI_OBJECT,
    "openai/v1/fine_tuning/jobs/<str:job_id>/checkpoints": OPENAI_OBJECT,
    "openai/v1/models": {"GET": "401 200 200 200 200 401", "POST": "401 405 403 405 405 401"},
    # The fine-tune is another job's input, so it is kept.
    "openai/v1/models/<path:model>": OPENAI_OBJECT | {"DELETE": "401 404 403 400 400 401"},
    # Viewers may generate (it changes nothing); the empty body names no model: 400.
    "openai/v1/chat/completions": {"GET": "401 405 405 405 405 401", "POST": "401 400 400 400 400 401"},
    "openai/v1/completions": {"GET": "401 405 405 405 405 401", "POST": "401 400 400 400 400 401"},
    "openai/v1/^[\\s\\S]*$": NOWHERE,
    # --- the admin's own pages (its model pages: ADMIN_RULES)
    "admin/": same("admin-login admin-login admin-login admin-login admin-login 200"),
    "admin/login/": {"GET": "200 200 200 200 200 302", "POST": "200 200 200 200 200 200"},
    "admin/logout/": {"GET": "302 302 302 302 302 405", "POST": "302 302 302 302 302 login"},
    "admin/password_change/": same("admin-login admin-login admin-login admin-login admin-login 200"),
    "admin/password_change/done/": {
        "GET": "admin-login admin-login admin-login admin-login admin-login 200",
        "POST": "admin-login admin-login admin-login admin-login admin-login 405",
    },
    "admin/autocomplete/": {
        "GET": "admin-login admin-login admin-login admin-login admin-login 403",
        "POST": "admin-login admin-login admin-login admin-login admin-login 405",
    },
    "admin/jsi18n/": {
        "GET": "admin-login admin-login admin-login admin-login admin-login 200",
        "POST": "admin-login admin-login admin-login admin-login admin-login 405",
    },
    "admin/r/<path:content_type_id>/<path:object_id>/": same(
        "admin-login admin-login admin-login admin-login admin-login 404"  # a job has no public URL
    ),
    "admin/^(?P<app_label>auth|jobs|api|console)/$": same(
        "admin-login admin-login admin-login admin-login admin-login 404"  # no model permission: no app page
    ),
    "admin/(?P<url>.*)$": same("admin-login admin-login admin-login admin-login admin-login 404"),
}

# The admin's pages for each registered model are Django's, alike for every model: only staff
# get in (everyone else is sent to the admin's sign-in), and staff without model permissions
# (the operator here) are refused. A model registered later is covered by these rules.
ADMIN_MODEL = r"admin/\w+/\w+/"
ADMIN_RULES: list[tuple[re.Pattern, Rule]] = [
    (
        re.compile(ADMIN_MODEL + r"(add/|<path:object_id>/(history|delete|change)/|<id>/password/)?"),
        same("admin-login admin-login admin-login admin-login admin-login 403"),
    ),
    (  # the old-style object URL redirects to the change page
        re.compile(ADMIN_MODEL + r"<path:object_id>/"),
        same("admin-login admin-login admin-login admin-login admin-login 302"),
    ),
]


def rule_for(route: str) -> Rule | None:
    if route in EXPECTED:
        return EXPECTED[route]
    return next((rule for pattern, rule in ADMIN_RULES if pattern.fullmatch(route)), None)


def how_to_add(routes: list[str], observed: dict[str, Rule] | None = None) -> str:
    """The failure message for URLs nobody has written expectations for."""
    lines = [
        f"{len(routes)} URL(s) have no entry in tests/reliability/authz_expectations.py. Decide who may "
        "use each and add it to EXPECTED (cells: anonymous outsider viewer member owner staff):",
    ]
    for route in routes:
        rows = (observed or {}).get(route)
        if rows is None:
            lines.append(f'    "{route}": {{"GET": "...", "POST": "..."}},')
            continue
        body = ", ".join(f'"{method}": "{cells}"' for method, cells in rows.items())
        lines.append(f'    "{route}": {{{body}}},  # what it does now: check every cell before copying')
    return "\n".join(lines)
