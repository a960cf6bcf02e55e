"""``{{ job|queue_status }}``: a queued job's place in the queue and why it waits."""

from django import template

from jobs.lifecycle import queue
from jobs.models import Job

register = template.Library()


@register.filter
def queue_status(job: Job) -> str:
    """'2nd of 5 in the queue: waiting: team quota 4/4 GPUs in use'; empty unless queued."""
    if job.status != Job.Status.QUEUED:
        return ""
    verdict = queue.queue_positions().get(job.pk)
    return verdict.text if verdict else job.queue_reason
