from django.urls import path

from jobs.teams import views

app_name = "teams"

urlpatterns = [
    path("", views.team_page, name="team"),
    path("members/", views.member_add, name="member_add"),
    path("members/<int:pk>/role/", views.member_role, name="member_role"),
    path("members/<int:pk>/remove/", views.member_remove, name="member_remove"),
    path("evaluation/", views.evaluation_settings, name="evaluation_settings"),
    path("switch/", views.team_switch, name="team_switch"),
]
