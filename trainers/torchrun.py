"""``python -m trainers.torchrun SPEC.json``: run a spec's N processes per node under torchrun.

The spec's ``distributed`` says the shape (trainers/distributed.py). On one node torchrun runs
``--standalone``; on several (a Kubernetes Indexed Job, one pod per node) it uses a static
rendezvous on the first pod, from the environment the manifest sets:

- ``HONE_NODE_RANK`` (the pod's completion index), ``HONE_MASTER_ADDR`` (pod 0's stable name
  through the headless Service), ``HONE_MASTER_PORT``.

Each process runs ``python -m trainers run SPEC.json``; rank 0 reports events, the others write
only to stderr (trainers/cli.py), which torchrun leaves shared, so their errors reach the log.

torchrun itself exits 1 whenever a worker fails; here its workers' exit codes are mapped back
to the trainer's contract, so the executors read the same codes as from one process: 2 (invalid,
from any rank) wins, then 3 (out of memory), then any crash, and 143 (stopped by SIGTERM: a
checkpoint was saved, resume) only when every failed worker stopped on SIGTERM. A torchrun that
was itself sent SIGTERM has passed it to every worker and waited for them
(``--shutdown-timeout``): 143.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterable

from trainers.spec import TrainSpec, load_spec

PERMANENT = (2, 3)  # invalid input, out of memory: no retry helps
TERMINATED = 143
# How long the workers get to write their checkpoint after SIGTERM before torchrun kills them;
# the pod's terminationGracePeriodSeconds should be longer.
SHUTDOWN_TIMEOUT_ENV = "HONE_SHUTDOWN_TIMEOUT"


def torchrun_args(spec_path: str, spec: TrainSpec, env: dict[str, str]) -> list[str]:
    shape = spec.distributed
    args = [
        "--nproc-per-node", str(shape.processes_per_node),
        "--max-restarts", "0",  # a failed worker ends the attempt; the platform's retry resumes it
        "--shutdown-timeout", env.get(SHUTDOWN_TIMEOUT_ENV, "60"),
    ]  # fmt: skip
    if shape.nodes == 1:
        args.append("--standalone")
    else:
        args += [
            "--nnodes", str(shape.nodes),
            "--node-rank", env.get("HONE_NODE_RANK", env.get("JOB_COMPLETION_INDEX", "0")),
            "--rdzv-backend", "static",
            "--master-addr", env["HONE_MASTER_ADDR"],
            "--master-port", env.get("HONE_MASTER_PORT", "29500"),
        ]  # fmt: skip
    return [*args, "-m", "trainers", "run", spec_path]


def exit_code(worker_codes: Iterable[int]) -> int:
    """The attempt's exit code from its failed workers' (a negative code: killed by that signal).

    A worker that crashed makes torchrun SIGTERM the others (their 143 is not a preemption): any
    code other than 143 wins over it; 143 only when every failed worker stopped on SIGTERM."""
    codes = [128 + -c if c < 0 else c for c in worker_codes]
    for wanted in PERMANENT:
        if wanted in codes:
            return wanted
    crashed = [c for c in codes if c != TERMINATED]
    return crashed[0] if crashed else (TERMINATED if codes else 1)


def main(argv: list[str]) -> int:
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    if len(argv) != 1:
        print("usage: python -m trainers.torchrun SPEC.json", file=sys.stderr)
        return 2
    spec = load_spec(argv[0])
    if not isinstance(spec, TrainSpec):
        print(f"hone trainer: a {spec.kind} job runs as one process", file=sys.stderr)
        return 2
    try:
        run(parse_args(torchrun_args(argv[0], spec, dict(os.environ))))
    except ChildFailedError as exc:
        for rank, failure in sorted(exc.failures.items()):
            print(f"hone trainer: rank {rank} exited with code {failure.exitcode}", file=sys.stderr)
        return exit_code(f.exitcode for _rank, f in sorted(exc.failures.items()))
    except SignalException as exc:
        print(f"hone trainer: torchrun stopped by {signal.Signals(exc.sigval).name}", file=sys.stderr)
        return 128 + int(exc.sigval)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
