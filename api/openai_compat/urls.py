"""``/openai/v1/``: OpenAI's fine-tuning and serving routes (see ``api.openai_compat``). Unknown paths
answer OpenAI's 404."""

from django.urls import path, re_path

from api.openai_compat import chat, errors, files, fine_tuning, model_views

app_name = "openai"

urlpatterns = [
    path("files", files.FileList.as_view(), name="file-list"),
    path("files/<str:file_id>", files.FileDetail.as_view(), name="file-detail"),
    path("files/<str:file_id>/content", files.FileContent.as_view(), name="file-content"),
    path("fine_tuning/jobs", fine_tuning.FineTuningJobList.as_view(), name="job-list"),
    path("fine_tuning/jobs/<str:job_id>", fine_tuning.FineTuningJobDetail.as_view(), name="job-detail"),
    path(
        "fine_tuning/jobs/<str:job_id>/cancel", fine_tuning.FineTuningJobCancel.as_view(), name="job-cancel"
    ),
    path(
        "fine_tuning/jobs/<str:job_id>/events", fine_tuning.FineTuningJobEvents.as_view(), name="job-events"
    ),
    path(
        "fine_tuning/jobs/<str:job_id>/checkpoints",
        fine_tuning.FineTuningJobCheckpoints.as_view(),
        name="job-checkpoints",
    ),
    path("models", model_views.ModelList.as_view(), name="model-list"),
    path("models/<path:model>", model_views.ModelDetail.as_view(), name="model-detail"),
    path("chat/completions", chat.ChatCompletions.as_view(), name="chat-completions"),
    path("completions", chat.Completions.as_view(), name="completions"),
    re_path(r"^[\s\S]*$", errors.not_found),  # not ".*": a path with a newline (%0A) is unknown too
]
