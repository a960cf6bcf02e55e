from django.urls import path

from jobs import api

urlpatterns = [
    path("attempts/<int:job_id>/<int:number>/events", api.ingest_events, name="ingest_events"),
]
