"""``/api/v1/``: every resource, the OpenAPI schema and its docs page. Unknown paths are a
problem+json 404. (The trainers' event ingest, ``attempts/<job>/<n>/events``, is routed by
jobs.lifecycle.ingest_urls, included just before this.)"""

import threading

from django.urls import path, re_path, reverse_lazy
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularAPIView

from api import problems
from api.views import (
    account,
    artifacts,
    datasets,
    evaluation,
    job_continue,
    job_data,
    jobs,
    models,
    sweeps,
    webhooks,
)

app_name = "api"


class SchemaView(SpectacularAPIView):
    """The OpenAPI document. Generated one request at a time: drf-spectacular's first run loads
    its extensions lazily and is not safe when two threads of one process race through it."""

    _generating = threading.Lock()

    def _get_schema_response(self, request):
        with self._generating:
            return super()._get_schema_response(request)


class DocsView(TemplateView):
    template_name = "api/docs.html"
    extra_context = {"schema_url": reverse_lazy("api:schema")}


urlpatterns = [
    path("me", account.Me.as_view(), name="me"),
    path("teams", account.TeamList.as_view(), name="team-list"),
    path("teams/<int:team_id>", account.TeamDetail.as_view(), name="team-detail"),
    path("tokens", account.TokenList.as_view(), name="token-list"),
    path("tokens/<int:token_id>", account.TokenDetail.as_view(), name="token-detail"),
    path("methods", account.MethodList.as_view(), name="method-list"),
    path("methods/<str:method>", account.MethodDetail.as_view(), name="method-detail"),
    path("profiles", account.ProfileList.as_view(), name="profile-list"),
    path("profiles/<int:profile_id>", account.ProfileDetail.as_view(), name="profile-detail"),
    path("datasets", datasets.DatasetList.as_view(), name="dataset-list"),
    path("datasets/<int:dataset_id>", datasets.DatasetDetail.as_view(), name="dataset-detail"),
    path("models", models.ModelList.as_view(), name="model-list"),
    path("models/<int:model_id>", models.ModelDetail.as_view(), name="model-detail"),
    path("jobs", jobs.JobList.as_view(), name="job-list"),
    path("jobs/<int:job_id>", jobs.JobDetail.as_view(), name="job-detail"),
    path("jobs/<int:job_id>/cancel", jobs.JobCancel.as_view(), name="job-cancel"),
    path("jobs/<int:job_id>/retry", jobs.JobRetry.as_view(), name="job-retry"),
    path("jobs/<int:job_id>/clone", jobs.JobClone.as_view(), name="job-clone"),
    path("jobs/<int:job_id>/continue", job_continue.JobContinue.as_view(), name="job-continue"),
    path("jobs/<int:job_id>/metrics", job_data.JobMetrics.as_view(), name="job-metrics"),
    path("jobs/<int:job_id>/trials", sweeps.SweepTrials.as_view(), name="job-trials"),
    path("jobs/<int:job_id>/trials/best/preset", sweeps.SaveBestAsPreset.as_view(), name="job-save-preset"),
    path("presets", sweeps.PresetList.as_view(), name="preset-list"),
    path("presets/<int:preset_id>", sweeps.PresetDetail.as_view(), name="preset-detail"),
    path("jobs/<int:job_id>/logs", job_data.JobLogs.as_view(), name="job-logs"),
    path("jobs/<int:job_id>/samples", job_data.JobSamples.as_view(), name="job-samples"),
    path("jobs/<int:job_id>/evaluation", evaluation.JobEvaluation.as_view(), name="job-evaluation"),
    path("jobs/<int:job_id>/artifacts", artifacts.ArtifactList.as_view(), name="artifact-list"),
    path(
        "jobs/<int:job_id>/artifacts/<int:artifact_id>",
        artifacts.ArtifactDetail.as_view(),
        name="artifact-detail",
    ),
    path(
        "jobs/<int:job_id>/artifacts/<int:artifact_id>/download",
        artifacts.ArtifactDownload.as_view(),
        name="artifact-download",
    ),
    path("webhooks", webhooks.WebhookList.as_view(), name="webhook-list"),
    path("webhooks/<int:webhook_id>", webhooks.WebhookDetail.as_view(), name="webhook-detail"),
    path(
        "webhooks/<int:webhook_id>/deliveries",
        webhooks.WebhookDeliveries.as_view(),
        name="webhook-deliveries",
    ),
    path("schema/", SchemaView.as_view(), name="schema"),
    path("docs/", DocsView.as_view(), name="docs"),
    re_path(r"^[\s\S]*$", problems.not_found),  # not ".*": a path with a newline (%0A) is unknown too
]
