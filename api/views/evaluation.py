"""``GET /api/v1/jobs/{id}/evaluation``: a job's evaluation results as tables: the forgetting report of
a training job and the harness tasks of an evaluate job (jobs/web/evaluation_report.py)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api.views.jobs import JobScoped
from jobs.web import metric_series
from jobs.web.evaluation_report import evaluation_summary


class RetentionSerializer(serializers.Serializer):
    before = serializers.FloatField(help_text="General-text perplexity as training started.")
    after = serializers.FloatField(help_text="The same, as training ended.")
    increase_percent = serializers.FloatField()
    threshold_percent = serializers.FloatField(help_text="The team's limit (Team.retention_warn_percent).")
    warned = serializers.BooleanField(help_text="Whether the rise is past the limit.")
    task = serializers.DictField(allow_null=True, help_text="The task metric: name, before, after, change.")
    choice = serializers.DictField(
        allow_null=True,
        help_text="The team's multiple-choice retention task: before, after (accuracy), drop_points, "
        "threshold_points, warned.",
    )


class HarnessRowSerializer(serializers.Serializer):
    task = serializers.CharField()
    metric = serializers.CharField()
    base = serializers.FloatField(allow_null=True)
    candidate = serializers.FloatField(allow_null=True)
    change = serializers.FloatField(allow_null=True)


class GateSerializer(serializers.Serializer):
    spec = serializers.DictField(help_text="params.gate: metric, min_gain (points), max_retention_drop (%).")
    status = serializers.ChoiceField(choices=["pending", "passed", "failed"])
    promoted = serializers.BooleanField(help_text="Whether its model was registered as a team model.")
    measured_model = serializers.ChoiceField(
        choices=["Trained", "Merged"], help_text="What `trained` in each rule is: the trained or merged one."
    )
    rules = serializers.ListField(
        child=serializers.DictField(),
        help_text="Each rule: rule, passed, base (a merge: the model it is compared with), trained, "
        "gain (points) or drop (%), or why unmeasured.",
    )


class EvaluationSerializer(serializers.Serializer):
    job = serializers.IntegerField()
    kind = serializers.CharField()
    retention = RetentionSerializer(allow_null=True, help_text="A training job's forgetting report.")
    harness = HarnessRowSerializer(many=True, help_text="An evaluate job's harness tasks.")
    gate = GateSerializer(allow_null=True, help_text="A training or merge job's promotion gate (jobs/gates).")
    judge = serializers.DictField(
        allow_null=True,
        help_text="An evaluate job's judge: judge, rubric, swap_positions, candidate_win_rate, "
        "position_bias, verdicts [{prompt, winner, margin}], labelled {pairs, agreement, ...}.",
    )


class JobEvaluation(JobScoped):
    serializer_class = EvaluationSerializer

    @extend_schema(summary="A job's evaluation tables: forgetting report, harness tasks")
    def get(self, request: Request, job_id: int) -> Response:
        job = self.job(job_id)
        return Response(evaluation_summary(job, metric_series.for_job(job.pk)))
