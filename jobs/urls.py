from django.urls import path

from jobs import chain_views, views

app_name = "jobs"

urlpatterns = [
    path("", views.job_list, name="job_list"),
    path("jobs/", views.job_list),
    path("jobs/new/", views.job_create, name="job_create"),
    path("jobs/new/quantize/", chain_views.quantize_create, name="quantize_create"),
    path("jobs/new/evaluate/", chain_views.evaluate_create, name="evaluate_create"),
    path("jobs/<int:pk>/", views.job_detail, name="job_detail"),
    path(
        "jobs/<int:pk>/outputs/<int:model_id>/evaluate/",
        chain_views.evaluate_against_base,
        name="evaluate_against_base",
    ),
    path("jobs/<int:pk>/live/", views.job_live, name="job_live"),
    path("jobs/<int:pk>/cancel/", views.job_cancel, name="job_cancel"),
    path(
        "jobs/<int:pk>/artifacts/<int:artifact_id>/download/",
        views.artifact_download,
        name="artifact_download",
    ),
    path("datasets/", views.dataset_list, name="dataset_list"),
    path("datasets/new/", views.dataset_create, name="dataset_create"),
    path("datasets/<int:pk>/", views.dataset_detail, name="dataset_detail"),
    path("models/", views.model_list, name="model_list"),
]
