"""Two CPU processes under torchrun (gloo): the same loss curve as one process with the same global
batch, the same saved files, a SIGTERM to one rank stopping the whole run at one checkpoint that
resumes to the planned number of steps, and a checkpoint refused on another number of processes.

Tiny Llama, 50 optimizer steps per run (about 1 s of training; most of each run is starting Python
and torch in every process). The single-process reference trains in the test's own process, where
torch is loaded already, while torchrun starts its two."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from jobs.executors.base import Submission, trainer_command
from jobs.executors.local import LocalExecutor
from tests.trainers.conftest import REPO, TRAINER_ENV, make_spec, trainer_env, write_jsonl, write_spec
from trainers import torchrun
from trainers.cli import run_job
from trainers.events import EventEmitter
from trainers.spec import parse_spec
from trainers.tiny import demo_instruction_rows

GLOBAL_BATCH = 4
STEPS = 50
# Dropout off: each process draws its own dropout masks, which one process would draw otherwise.
LORA = {"r": 4, "dropout": 0.0}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Training rows that fill every global batch (a last, partial batch is split unevenly across
    processes, and Accelerate pads it with repeated rows), and a separate eval file."""
    folder = tmp_path_factory.mktemp("ddp-data")
    rows = demo_instruction_rows(GLOBAL_BATCH * STEPS + 16)
    return write_jsonl(folder / "train.jsonl", rows[16:]), write_jsonl(folder / "eval.jsonl", rows[:16])


def _spec(model: Path, data: tuple[Path, Path], out: Path, processes: int, **training) -> dict:
    settings = {
        "epochs": 1,
        "batch_size": GLOBAL_BATCH // processes,
        "evals_per_run": 1,
        "checkpoints_per_run": 0,
        "max_seq_length": 64,
    } | training
    spec = make_spec(model, data[0], out, training=settings, lora=LORA)
    spec["dataset"]["eval_path"] = str(data[1])
    spec["distributed"] = {"nodes": 1, "processes_per_node": processes, "strategy": "ddp"}
    return spec


def _submit_local(tmp_path: Path, spec: dict, job_id: int = 1) -> LocalExecutor:
    """Through the local executor, as the platform runs an attempt."""
    executor = LocalExecutor(tmp_path / "storage")
    executor.submit(Submission(job_id, 1, spec, dict(TRAINER_ENV)))
    return executor


def _wait_local(executor: LocalExecutor, job_id: int = 1, timeout: float = 180) -> tuple[dict, list[dict]]:
    """The attempt's exit record and events, once it has ended."""
    exit_file = executor.run_dir(job_id, 1) / "exit.json"
    deadline = time.monotonic() + timeout
    while not exit_file.exists():
        assert time.monotonic() < deadline, executor.read_logs(job_id, 1)
        time.sleep(0.2)
    events, _offset = executor.read_events(job_id, 1, 0)
    return json.loads(exit_file.read_text()), events


def _train_losses(events: list[dict]) -> dict[int, float]:
    return {
        e["step"]: e["value"]
        for e in events
        if e["kind"] == "metric" and e["name"] == "loss" and e["split"] == "train"
    }


def test_two_ddp_processes_give_the_single_process_loss_curve_and_files(tmp_path, tiny_model_dir, data):
    one = json.loads(json.dumps(_spec(tiny_model_dir, data, tmp_path / "one", 1)))
    two = _spec(tiny_model_dir, data, tmp_path / "two", 2)
    assert trainer_command("python", two, "spec.json")[1:3] == ["-m", "trainers.torchrun"]
    executor = _submit_local(tmp_path, two)
    # The single process trains here (torch is loaded) while torchrun starts its two.
    single = io.StringIO()
    assert run_job(parse_spec(one), EventEmitter(single)) == 0, single.getvalue()[-2000:]
    record, events = _wait_local(executor)
    assert record["exit_code"] == 0, record

    # Rank 0 alone reports: one numbered stream, one start, one artifact.
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert [e["kind"] for e in events].count("started") == 1
    assert [e["kind"] for e in events].count("artifact") == 1
    alone = _train_losses([json.loads(line) for line in single.getvalue().splitlines()])
    together = _train_losses(events)
    assert sorted(together) == sorted(alone) == list(range(1, STEPS + 1))
    worst = max(abs(together[s] - alone[s]) / abs(alone[s]) for s in alone)
    assert worst < 1e-4, f"largest relative difference {worst:.2e}"

    # Each rank's tokens per second at every train log, and their sum.
    rates = [e for e in events if e["kind"] == "metric" and e["name"] == "tokens_per_second"]
    by_split = {split: [e for e in rates if e["split"] == split] for split in ("rank0", "rank1", "all")}
    assert len(by_split["rank0"]) == len(by_split["rank1"]) == len(by_split["all"]) == STEPS
    for r0, r1, both in zip(*by_split.values(), strict=True):
        assert r0["value"] > 0 and r1["value"] > 0
        assert both["value"] == pytest.approx(r0["value"] + r1["value"])

    # The adapter is the same files, with the same weights, as the single process writes.
    a, b = tmp_path / "one" / "adapter", tmp_path / "two" / "adapter"
    assert sorted(p.name for p in a.iterdir()) == sorted(p.name for p in b.iterdir())
    first, second = load_file(a / "adapter_model.safetensors"), load_file(b / "adapter_model.safetensors")
    assert first.keys() == second.keys()
    assert all((first[k] - second[k]).abs().max() < 1e-4 for k in first)


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _rank_pid(torchrun_pid: int, rank: int) -> int:
    for child in _children(torchrun_pid):
        environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        if f"RANK={rank}".encode() in environ:
            return child
    raise AssertionError(f"no rank {rank} under torchrun {torchrun_pid}")


def test_sigterm_to_one_rank_stops_every_rank_at_one_checkpoint_that_resumes_to_the_planned_steps(
    tmp_path, tiny_model_dir, data
):
    out = tmp_path / "out"
    spec = _spec(tiny_model_dir, data, out, 2, epochs=2, save_every_steps=10)
    path = write_spec(tmp_path / "spec.json", spec)
    proc = subprocess.Popen(
        [sys.executable, "-m", "trainers.torchrun", str(path)],
        cwd=REPO,
        env=trainer_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    events = []
    for line in proc.stdout:
        events.append(json.loads(line))
        if events[-1]["kind"] == "checkpoint":  # step 10: past it, stop rank 1 alone
            os.kill(_rank_pid(proc.pid, 1), signal.SIGTERM)
            break
    events += [json.loads(line) for line in proc.stdout]
    assert proc.wait(timeout=120) == 143, proc.stderr.read()[-3000:]
    saved = [e["step"] for e in events if e["kind"] == "checkpoint"]
    stopped_at = saved[-1]
    assert 10 < stopped_at < 2 * STEPS and events[-1]["status"] == "cancelled"
    checkpoint = out / "checkpoints" / f"checkpoint-{stopped_at}"
    assert sorted(p.name for p in checkpoint.glob("rng_state*")) == ["rng_state_0.pth", "rng_state_1.pth"]

    resumed = spec | {"attempt": 2, "resume_from": str(checkpoint)}
    run = subprocess.run(
        [sys.executable, "-m", "trainers.torchrun", str(write_spec(tmp_path / "r.json", resumed))],
        cwd=REPO,
        env=trainer_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    after = [json.loads(line) for line in run.stdout.splitlines()]
    started = next(e for e in after if e["kind"] == "started")
    assert started["total_steps"] == 2 * STEPS
    steps = sorted(_train_losses(after))
    assert steps == list(range(stopped_at + 1, 2 * STEPS + 1))  # the remaining optimizer steps, once each
    assert (out / "adapter" / "adapter_model.safetensors").is_file()


def test_a_checkpoint_is_refused_on_another_number_of_processes(tmp_path, tiny_model_dir, data):
    checkpoint = tmp_path / "checkpoint-10"
    checkpoint.mkdir()
    for rank in (0, 1):
        (checkpoint / f"rng_state_{rank}.pth").write_bytes(b"")
    spec = _spec(tiny_model_dir, data, tmp_path / "out", 1) | {"resume_from": str(checkpoint)}
    out = io.StringIO()
    assert run_job(parse_spec(spec), EventEmitter(out)) == 2
    error = json.loads(out.getvalue().splitlines()[-1])["error"]
    assert "written by 2 processes and this attempt runs 1" in error


def test_a_rank_other_than_0_reports_no_events_and_its_error_reaches_the_log(tmp_path, tiny_model_dir, data):
    spec = _spec(tiny_model_dir, data, tmp_path / "out", 2)
    spec["base_model"]["path"] = str(tmp_path / "no-such-model")
    run = subprocess.run(
        [sys.executable, "-m", "trainers", "run", str(write_spec(tmp_path / "s.json", spec))],
        cwd=REPO,
        env=trainer_env(RANK="1"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (run.returncode, run.stdout) == (2, "")
    assert "hone trainer: rank 1 failed: ModelError: base_model.path" in run.stderr


@pytest.mark.parametrize(
    ("codes", "expected"),
    [([143, 143], 143), ([143, -15], 143), ([1, 143], 1), ([143, 2], 2), ([1, 3], 3), ([-9, 143], 137)],
)
def test_torchruns_exit_is_its_workers_exit_in_the_trainers_terms(codes, expected):
    assert torchrun.exit_code(codes) == expected


def test_on_several_nodes_torchrun_meets_rank_0_by_the_environment_the_pod_gets(
    tmp_path, tiny_model_dir, data
):
    spec = _spec(tiny_model_dir, data, tmp_path / "out", 4)
    spec["distributed"] = {"nodes": 2, "processes_per_node": 4, "strategy": "ddp"}
    env = {"HONE_NODE_RANK": "1", "HONE_MASTER_ADDR": "hone-3-a1-0.hone-3-a1", "HONE_MASTER_PORT": "29500"}
    args = torchrun.torchrun_args("spec.json", parse_spec(spec), env)
    assert args[args.index("--nnodes") + 1] == "2" and args[args.index("--node-rank") + 1] == "1"
    assert args[args.index("--rdzv-backend") + 1] == "static"
    assert args[args.index("--master-addr") + 1] == "hone-3-a1-0.hone-3-a1"
    assert args[-4:] == ["-m", "trainers", "run", "spec.json"] and "--standalone" not in args


def test_spiel_under_two_ddp_processes_trains_as_one_and_keeps_its_budget(tmp_path, tiny_model_dir, data):
    """SpIEL under DDP: each process accumulates its own growth statistics (DDP leaves those buffers
    alone) and every update sums them, so the ranks move the same entries. Up to the first update the
    losses are the single process's; after it they drift apart slowly (AdamW makes many deltas about
    equally large, so which ones are smallest turns on rounding that differs between one process and
    two), and the saved model still changes at most k entries per matrix."""
    from trainers.trainable import sparse_budget

    own = {"method": "spiel", "method_params": {"density": 0.05, "update_interval": 10}}
    one = _spec(tiny_model_dir, data, tmp_path / "one", 1, learning_rate=1e-2) | own
    two = _spec(tiny_model_dir, data, tmp_path / "two", 2, learning_rate=1e-2) | own
    executor = _submit_local(tmp_path, two)
    single = io.StringIO()
    assert run_job(parse_spec(one), EventEmitter(single)) == 0, single.getvalue()[-2000:]
    record, events = _wait_local(executor)
    assert record["exit_code"] == 0, executor.read_logs(1, 1)[-3000:]
    alone = _train_losses([json.loads(line) for line in single.getvalue().splitlines()])
    together = _train_losses(events)
    assert sorted(together) == sorted(alone) == list(range(1, STEPS + 1))
    assert max(abs(together[s] - alone[s]) / abs(alone[s]) for s in range(1, 11)) < 1e-4
    assert max(abs(together[s] - alone[s]) / abs(alone[s]) for s in alone) < 0.05
    base = load_file(tiny_model_dir / "model.safetensors")
    saved = load_file(tmp_path / "two" / "model" / "model.safetensors")
    assert base.keys() == saved.keys()
    for name, weight in saved.items():
        changed = int((weight != base[name]).sum())
        assert changed <= (sparse_budget(weight.numel(), 0.05) if "_proj" in name else 0), name
