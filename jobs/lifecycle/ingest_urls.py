from django.urls import path

from jobs.lifecycle import ingest_views

urlpatterns = [
    path("attempts/<int:job_id>/<int:number>/events", ingest_views.ingest_events, name="ingest_events"),
]
