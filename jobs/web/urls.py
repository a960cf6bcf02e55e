from django.urls import path

from jobs.guided import views as wizard_views
from jobs.playground import views as playground_views
from jobs.web import continue_views, curate_views, dataset_views, kind_views, sweep_views, views

app_name = "jobs"

urlpatterns = [
    path("", views.job_list, name="job_list"),
    path("jobs/", views.job_list),
    path("jobs/new/", views.job_create, name="job_create"),
    path("jobs/guided/", wizard_views.goal_step, name="wizard_goal"),
    path("jobs/guided/data/", wizard_views.data_step, name="wizard_data"),
    path("jobs/guided/model/", wizard_views.model_step, name="wizard_model"),
    path("jobs/guided/method/", wizard_views.method_step, name="wizard_method"),
    path("jobs/guided/review/", wizard_views.review_step, name="wizard_review"),
    path("jobs/new/quantize/", kind_views.quantize_create, name="quantize_create"),
    path("jobs/new/evaluate/", kind_views.evaluate_create, name="evaluate_create"),
    path("jobs/new/merge/", kind_views.merge_create, name="merge_create"),
    path("jobs/new/curate/", curate_views.curate_create, name="curate_create"),
    path("jobs/new/sweep/", sweep_views.sweep_create, name="sweep_create"),
    path("jobs/compare/", views.job_compare, name="job_compare"),
    path("jobs/<int:pk>/", views.job_detail, name="job_detail"),
    path(
        "jobs/<int:pk>/outputs/<int:model_id>/evaluate/",
        kind_views.evaluate_against_base,
        name="evaluate_against_base",
    ),
    path("jobs/<int:pk>/outputs/<int:model_id>/merge/", views.merge_into_base, name="merge_into_base"),
    path("jobs/<int:pk>/live/", views.job_live, name="job_live"),
    path("jobs/<int:pk>/cancel/", views.job_cancel, name="job_cancel"),
    path("jobs/<int:pk>/retry/", views.job_retry, name="job_retry"),
    path("jobs/<int:pk>/save-preset/", sweep_views.save_best_preset, name="sweep_save_preset"),
    path("jobs/<int:pk>/continue/", continue_views.job_continue, name="job_continue"),
    path(
        "jobs/<int:pk>/artifacts/<int:artifact_id>/download/",
        views.artifact_download,
        name="artifact_download",
    ),
    path("datasets/", dataset_views.dataset_list, name="dataset_list"),
    path("datasets/new/", dataset_views.dataset_create, name="dataset_create"),
    path("datasets/<int:pk>/", dataset_views.dataset_detail, name="dataset_detail"),
    path("datasets/<int:pk>/golden/", dataset_views.dataset_golden, name="dataset_golden"),
    path("models/", views.model_list, name="model_list"),
    path("models/<int:pk>/playground/", playground_views.playground_page, name="playground"),
    path("models/<int:pk>/playground/stream/", playground_views.playground_stream, name="playground_stream"),
]
