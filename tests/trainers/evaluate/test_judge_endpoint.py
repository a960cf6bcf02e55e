"""The judge through an OpenAI-compatible endpoint: the trainer asks a real local HTTP server speaking
the chat completions API with the ``openai`` client, its key from the environment; known better
answers are ranked first with position swapping on, though the endpoint's judge leans towards A."""

from __future__ import annotations

import json
import random
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.trainers.conftest import write_jsonl
from tests.trainers.evaluate.test_evaluate_job import evaluate_spec, events_of, ref
from tests.trainers.evaluate.test_judge import HELD_OUT_WORDS, REFUSALS, RUBRIC, pair

KEY = "sk-test-judge-key-0123456789"
PULL_TOWARDS_A = 2.5  # nats: more than the margin it finds between the answers (2)


class JudgeServer(BaseHTTPRequestHandler):
    """POST /v1/chat/completions as OpenAI answers it: one token, with top log probabilities. Its judge
    knows a refusal is worse (margin 2 nats) and leans towards A by PULL_TOWARDS_A."""

    seen: list[dict] = []

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append({"path": self.path, "authorization": self.headers.get("Authorization"),
                                "body": body})
        if self.headers.get("Authorization") != f"Bearer {KEY}":
            refusal = {"message": "Incorrect API key provided", "type": "invalid_request_error"}
            return self._send(401, {"error": refusal})
        content = body["messages"][-1]["content"]
        first, second = re.search(r"Answer A: (.*)\n\nAnswer B: (.*)\n\nWhich", content, re.S).groups()
        quality = {True: -1.0, False: 1.0}
        margin = quality[first in REFUSALS] - quality[second in REFUSALS] + PULL_TOWARDS_A
        a, b = (-0.05, -0.05 - margin) if margin > 0 else (-0.05 + margin, -0.05)
        top = [{"token": "A", "logprob": a, "bytes": None}, {"token": "B", "logprob": b, "bytes": None}]
        letter = "A" if a > b else "B"
        self._send(200, {
            "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "length",
                         "message": {"role": "assistant", "content": letter},
                         "logprobs": {"content": [{"token": letter, "logprob": max(a, b), "bytes": None,
                                                   "top_logprobs": top}]}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        })

    def _send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def endpoint() -> Iterator[str]:
    JudgeServer.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), JudgeServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def _spec(endpoint: str, tiny_model_dir: Path, tmp_path: Path) -> dict:
    held_out = [pair(HELD_OUT_WORDS, random.Random(2000 + i)) for i in range(8)]
    labelled = write_jsonl(tmp_path / "pairs.jsonl", held_out)
    lm = {"model": {"name": "tiny", "path": str(tiny_model_dir)}}
    judge = {"use_endpoint": True, "endpoint": {"base_url": endpoint, "model": "judge-1"}, "rubric": RUBRIC,
             "labelled": ref(labelled, "preference")}
    return evaluate_spec(lm, lm, tmp_path / "out", prompts=["Tell me about the rocket."], max_new_tokens=4,
                         judge=judge)


def test_an_endpoint_judge_ranks_known_better_answers_first_with_positions_swapped(
    endpoint: str, tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("HONE_JUDGE_API_KEY", KEY)
    spec = _spec(endpoint, tiny_model_dir, tmp_path)
    code, events = events_of(spec)
    assert code == 0, events[-1]
    report = json.loads((tmp_path / "out" / "report.json").read_text())["judge"]
    assert report["judge"] == "judge-1 (OpenAI-compatible endpoint)" and report["swap_positions"] is True
    found = report["labelled"]
    assert found["pairs"] == 8 and found["agreement"] == 1.0  # every better answer ranked first
    assert all(margin == pytest.approx(2.0) for margin in found["margins"])  # the pull towards A cancelled
    assert found["position_bias"] == pytest.approx(PULL_TOWARDS_A)
    requests = JudgeServer.seen
    assert len(requests) == 2 * (8 + 1)  # each pair and the one prompt's answers, in both orders
    assert {r["path"] for r in requests} == {"/v1/chat/completions"}
    assert all(r["body"]["model"] == "judge-1" and r["body"]["logprobs"] is True for r in requests)
    assert KEY not in json.dumps(spec) and KEY not in json.dumps(events)  # by environment only
    assert KEY not in (tmp_path / "out" / "report.json").read_text()


def test_a_refused_key_fails_the_job_saying_so_without_the_key(
    endpoint: str, tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("HONE_JUDGE_API_KEY", "sk-wrong-key-abcdef")
    code, events = events_of(_spec(endpoint, tiny_model_dir, tmp_path))
    assert code not in (0, 2)  # a failure the job may retry, not invalid input
    error = events[-1]["error"]
    assert "judge endpoint" in error and "Incorrect API key" in error
    assert "sk-wrong-key-abcdef" not in json.dumps(events)
