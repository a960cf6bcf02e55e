from django.urls import path

from jobs.teams import preset_views, views

app_name = "teams"

urlpatterns = [
    path("", views.team_page, name="team"),
    path("members/", views.member_add, name="member_add"),
    path("members/<int:pk>/role/", views.member_role, name="member_role"),
    path("members/<int:pk>/remove/", views.member_remove, name="member_remove"),
    path("presets/<int:pk>/rename/", preset_views.preset_rename, name="preset_rename"),
    path("presets/<int:pk>/delete/", preset_views.preset_delete, name="preset_delete"),
    path("evaluation/", views.evaluation_settings, name="evaluation_settings"),
    path("switch/", views.team_switch, name="team_switch"),
]
