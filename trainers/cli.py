"""``python -m trainers run SPEC.json``: validate the spec, run the job, report, exit with a meaning.

``python -m trainers methods [--json]`` prints the training catalogue (objectives, methods, schemas).

Exit codes (the executor and reconciler act on these, not on events):
0 success · 2 invalid input or spec (permanent, never retried) · 3 out of memory ·
143 terminated by SIGTERM (retry and resume from the last checkpoint) · 1 any other failure.

torch and transformers are imported only once a job runs, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import logging
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from trainers.data import DataError
from trainers.events import EventEmitter, claim_stdout, route_logging
from trainers.spec import EVENTS_TOKEN_ENV, JobSpec, SpecError, load_spec, runner

log = logging.getLogger("trainers")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_OUT_OF_MEMORY = 3
EXIT_TERMINATED = 143  # 128 + SIGTERM, what a shell or Kubernetes reports for a killed process


class Terminated(Exception):
    """SIGTERM arrived; during training it is raised only after a checkpoint was saved."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated("stopped by SIGTERM")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m trainers", description="Hone's trainer: runs one job spec."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="run the job described by a JSON spec file")
    run_parser.add_argument("spec", help="path to the job spec (JSON)")
    methods_parser = commands.add_parser(
        "methods", help="list the training catalogue: objectives, methods, their parameters"
    )
    methods_parser.add_argument(
        "--json", action="store_true", help="print the whole catalogue (with JSON schemas) as JSON"
    )
    args = parser.parse_args(argv)
    if args.command == "methods":
        return print_methods(as_json=args.json)
    return run(args.spec)


def print_methods(*, as_json: bool) -> int:
    """The catalogue as JSON, or one line per method (name, objectives, paper) for people."""
    from trainers import catalogue

    if as_json:
        print(json.dumps(catalogue.catalogue(), indent=2))
        return EXIT_OK
    for method in catalogue.methods("train"):
        gpu = " [CUDA GPU only]" if method.needs_cuda else ""
        print(f"{method.name:14} {method.title}{gpu}\n{'':14} {method.description}")
        print(f"{'':14} objectives: {', '.join(method.objectives)}; saves: {method.artifact}; {method.paper}")
    return EXIT_OK


def run(spec_path: str) -> int:
    events_out = claim_stdout()
    # Until training takes over SIGTERM (to checkpoint first), a SIGTERM ends the attempt right away.
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        spec = load_spec(spec_path)
    except SpecError as exc:
        # No valid spec means no trusted events URL: this report goes to stdout only.
        emitter = EventEmitter(events_out)
        print(f"hone trainer: {exc}", file=sys.stderr)
        emitter.log(str(exc), level="error")
        emitter.finished("failed", f"SpecError: {exc}")
        return EXIT_INVALID
    except Terminated:
        EventEmitter(events_out).finished("cancelled", "Terminated: stopped by SIGTERM before the job began")
        return EXIT_TERMINATED

    rank = int(os.environ.get("RANK", "0"))  # set by torchrun (trainers/torchrun.py)
    if rank != 0:
        # Rank 0 reports the run; the others' errors and tracebacks go to stderr, the attempt's log.
        return run_other_rank(spec, rank, events_out)
    token = os.environ.get(EVENTS_TOKEN_ENV)
    emitter = EventEmitter(events_out, url=spec.events.url, token=token)
    undo_logging = route_logging(emitter)
    if spec.events.url and not token:
        log.warning(f"events.url is set but {EVENTS_TOKEN_ENV} is empty; the endpoint will refuse events")
    try:
        return run_job(spec, emitter)
    finally:
        # The outcome is decided; a late SIGTERM must not turn it into a traceback.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        undo_logging()
        emitter.close()


def run_other_rank(spec: JobSpec, rank: int, events_out: Any) -> int:
    """A process of rank > 0: trains like rank 0, reports nothing; its ending goes to stderr."""
    events_out.close()
    last = LastLine()
    try:
        code = run_job(spec, EventEmitter(last))
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if code not in (EXIT_OK, EXIT_TERMINATED):
        error = json.loads(last.line or "{}").get("error") or f"exit code {code}"
        print(f"hone trainer: rank {rank} failed: {error}", file=sys.stderr, flush=True)
    return code


class LastLine(io.TextIOBase):
    """A stream that keeps only the last line written: a rank > 0's final event, to name its error."""

    def __init__(self) -> None:
        self.line = ""

    def write(self, text: str) -> int:
        if text.strip():
            self.line = text.strip().splitlines()[-1]
        return len(text)


def run_job(spec: JobSpec, emitter: EventEmitter) -> int:
    """Run one job; every outcome ends with one ``finished`` event and its exit code."""
    try:
        run_kind = runner(spec.kind)  # imports torch, transformers and the job's own code
        # None of that is garbage: keep it out of the full collections the libraries force (accelerate
        # runs gc.collect() after every train() and evaluate()), ~1-2 CPU-seconds a tiny run.
        gc.freeze()
        run_kind(spec, emitter)
        emitter.finished("succeeded")  # a no-op when the job reported it already
        return EXIT_OK
    except Terminated as exc:
        log.warning("Terminated by SIGTERM; resume from the last checkpoint")
        emitter.finished("cancelled", f"Terminated: {exc}")
        return EXIT_TERMINATED
    except (SpecError, DataError) as exc:
        log.error(str(exc))
        emitter.finished("failed", f"{type(exc).__name__}: {exc}")
        return EXIT_INVALID
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        if is_out_of_memory(exc):
            advice = out_of_memory_advice(spec)
            log.error(advice)
            emitter.finished("failed", f"{type(exc).__name__}: {exc}. {advice}")
            return EXIT_OUT_OF_MEMORY
        emitter.finished("failed", f"{type(exc).__name__}: {exc}")
        return EXIT_FAILED


def out_of_memory_advice(spec: JobSpec) -> str:
    """What to change so the job fits, in the spec's own field names and current values."""
    t = getattr(spec, "training", None)
    if t is None:  # merge, quantize, evaluate: the model itself must fit
        return "It ran out of memory: run it on a compute profile with more (GPU) memory."
    size = f"training.max_batch_tokens (now {t.max_batch_tokens})" if t.max_batch_tokens else (
        f"training.batch_size (now {t.batch_size}; raise gradient_accumulation_steps to keep the "
        "effective batch)"
    )
    tips = [f"lower {size}", f"lower training.max_seq_length (now {t.max_seq_length})"]
    if not t.gradient_checkpointing:
        tips.append("turn on training.gradient_checkpointing")
    if getattr(spec, "method", "") in ("full", "freeze", "bitfit", "lisa", "hft"):
        tips.append("train a LoRA adapter (method lora) instead of the model's own weights")
    elif getattr(spec, "method", "") != "qlora":
        tips.append("on a CUDA GPU, use QLoRA (method qlora) for a 4-bit base")
    return f"It ran out of memory. To fit: {'; or '.join(tips)}."


def is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(exc, torch.OutOfMemoryError):
        return True
    # Some CUDA allocation failures surface as a plain RuntimeError.
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
