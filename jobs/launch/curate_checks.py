"""Before a curate job queues: its estimated time (``trainers.curate.estimate``) against the longest
an attempt may run on its compute profile (capped by its team's quota); refused, naming the slowest
step and what to change, when it cannot finish."""

from __future__ import annotations

from jobs.guided.sizing import default_profile, device_of
from jobs.launch.types import LaunchRefused
from jobs.lifecycle.queue import time_limit
from jobs.models import Job
from trainers.curate.estimate import curate_time, too_long
from trainers.spec import parse_spec


def check_curate_time(job: Job, spec: dict) -> None:
    profile = job.profile or default_profile()
    device, limit = device_of(profile), time_limit(job, profile)
    if device is None or limit is None:
        return
    found = curate_time(parse_spec(spec), device)
    problem = too_long(found, limit, f"the {profile.name} profile")
    if problem:
        raise LaunchRefused.at((found.parts[0][0],), problem)
