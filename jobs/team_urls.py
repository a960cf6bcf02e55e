from django.urls import path

from jobs import team_views

app_name = "teams"

urlpatterns = [
    path("", team_views.team_page, name="team"),
    path("members/", team_views.member_add, name="member_add"),
    path("members/<int:pk>/role/", team_views.member_role, name="member_role"),
    path("members/<int:pk>/remove/", team_views.member_remove, name="member_remove"),
    path("switch/", team_views.team_switch, name="team_switch"),
]
