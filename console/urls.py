from django.urls import path

from console import views

app_name = "console"

urlpatterns = [
    path("", views.queue_page, name="queue"),
    path("capacity/", views.capacity_page, name="capacity"),
    path("usage/", views.usage_page, name="usage"),
    path("profiles/", views.profiles_page, name="profiles"),
    path("orphans/", views.orphans_page, name="orphans"),
    path("audit/", views.audit_page, name="audit"),
    path("jobs/<int:pk>/cancel/", views.job_cancel, name="job_cancel"),
    path("jobs/<int:pk>/requeue/", views.job_requeue, name="job_requeue"),
    path("jobs/<int:pk>/priority/", views.job_priority, name="job_priority"),
    path("profiles/<int:pk>/hold/", views.profile_hold, name="profile_hold"),
    path("profiles/<int:pk>/resume/", views.profile_resume, name="profile_resume"),
    path("drain/", views.drain, name="drain"),
    path("resume-all/", views.resume_all, name="resume_all"),
]
