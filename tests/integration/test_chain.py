"""The whole chain through the real worker and trainers: train → merge (fold the adapter into
its base) → quantize (int8, transformers + GGUF) → evaluate (base vs quantized). Each job's
inputs are the previous job's outputs, and the lineage says so."""

from __future__ import annotations

import pytest

from jobs import launch
from jobs.assets import lineage
from jobs.models import Job, MetricPoint, ModelAsset
from tests.integration.test_worker_flow import QUICK, start, status_of
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


def finish(job: Job, timeout: float = 240) -> Job:
    wait_for(lambda: status_of(job) in Job.FINISHED, timeout=timeout, what=f"{job.kind} job to finish")
    attempt = job.attempts.last()
    assert job.status == "succeeded", f"{job.kind}: {job.error} / {attempt and attempt.reason}"
    return job


def only(queryset):
    [item] = list(queryset)
    return item


def test_train_merge_quantize_evaluate(live, team, member, tiny_model, demo_rows):
    trained = finish(start(team, member, tiny_model, demo_rows, QUICK))
    adapter = only(lineage.outputs_of(trained))
    assert (adapter.format, adapter.adapter_base) == ("adapter", tiny_model)

    merged = finish(
        launch.launch_job(
            "merge",
            team=team,
            user=member,
            name="folded",
            params={"method": "lora_fold"},
            models=[("base", tiny_model, None), ("model", adapter, None)],
        )
    )
    full = only(lineage.outputs_of(merged))
    assert full.format == "transformers"

    quantized = finish(
        launch.launch_job(
            "quantize",
            team=team,
            user=member,
            name="int8",
            params={"method": "rtn_int8", "outputs": ["torchao", "gguf_q8_0"]},
            models=[("base", full, None)],
        )
    )
    outputs = {m.format: m for m in lineage.outputs_of(quantized)}
    assert set(outputs) == {"transformers", "gguf"}
    assert outputs["transformers"].quantization == "rtn_int8"
    assert MetricPoint.objects.filter(job=quantized, name="eval/perplexity").count() == 2

    evaluated = finish(
        launch.launch_job(
            "evaluate",
            team=team,
            user=member,
            name="base vs int8",
            params={"max_new_tokens": 8},
            models=[("base", tiny_model, None), ("candidate", outputs["transformers"], None)],
        )
    )
    steps = set(
        MetricPoint.objects.filter(job=evaluated, name="eval/perplexity").values_list("step", flat=True)
    )
    assert steps == {0, 1}

    # lineage, from the end back to the start
    assert evaluated.inputs.get(role="candidate").model.produced_by == quantized
    assert quantized.inputs.get(role="base").model.produced_by == merged
    assert merged.inputs.get(role="model").model.produced_by == trained
    assert ModelAsset.objects.filter(produced_by__in=[trained, merged, quantized]).count() == 4
