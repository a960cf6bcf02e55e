"""Chat completions latency: Hone's /openai/v1/chat/completions (streamed, through the official
``openai`` client over HTTP) against a plain transformers ``generate`` loop in the same process.

Both run the demo model (SmolLM2-135M-Instruct, float32, CPU), greedy, from the same chat-templated
prompt, for the same number of new tokens, one request at a time, alternating:

  baseline  AutoModelForCausalLM.generate with a TextIteratorStreamer, in this process
  hone      client.chat.completions.create(stream=True) against Hone's WSGI app served from a
            thread of this process (embedded SQLite): token auth, team lookup, the loaded-model
            cache, generation in a thread, server-sent events, the client's parsing

Time to first token (TTFT) is from the call to the first piece of text; tokens/s counts the new
tokens over the whole call. Prints medians and the ratio hone / baseline (1.0 = no overhead).

    OMP_NUM_THREADS=2 HF_HUB_OFFLINE=1 .venv/bin/python bench/chat_latency.py [--runs 5 --tokens 64]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HONE_VAR", tempfile.mkdtemp(prefix="hone-bench-chat-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hone.settings")
os.environ.pop("DATABASE_URL", None)  # embedded SQLite: the bench measures serving, not the database

PROMPT = [{"role": "user", "content": "Write a short story about a lighthouse keeper and a storm."}]


class ThreadedServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args) -> None:
        pass


def setup() -> tuple[str, str, str]:
    """Migrate, register the demo model, a team and a token; (model path, model id, token)."""
    import django
    from django.conf import settings
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    from django.contrib.auth import get_user_model

    from api import tokens
    from api.openai_compat import ids
    from jobs.management import demo_model
    from jobs.models import Membership, ModelAsset, Team

    path = demo_model.prepare(settings.HONE_DEMO_MODEL_DIR)
    team = Team.objects.create(slug="bench-chat", name="bench-chat")
    user = get_user_model().objects.create(username="bench-chat")
    Membership.objects.create(team=team, user=user, role="member")
    model = ModelAsset.objects.create(
        name="SmolLM2-135M-Instruct", source="builtin", path=str(path), task="causal-lm"
    )
    return str(path), ids.model_id(model), tokens.issue(user=user, team=team, name="bench")[1]


def serve() -> str:
    from django.core.wsgi import get_wsgi_application

    server = make_server("127.0.0.1", 0, get_wsgi_application(), ThreadedServer, QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}/openai/v1"


def baseline(model, tokenizer, tokens: int) -> tuple[float, float, int]:
    """(TTFT s, total s, new tokens) of one streamed generate() call."""
    import torch
    from transformers import TextIteratorStreamer

    ids = tokenizer.apply_chat_template(
        PROMPT, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    out: list = []

    def run() -> None:
        with torch.inference_mode():
            out.append(model.generate(**ids, max_new_tokens=tokens, do_sample=False, streamer=streamer))

    started = time.perf_counter()
    worker = threading.Thread(target=run)
    worker.start()
    first = None
    for piece in streamer:
        if piece and first is None:
            first = time.perf_counter() - started
    worker.join()
    total = time.perf_counter() - started
    return first or total, total, out[0].shape[1] - ids["input_ids"].shape[1]


def hone(client, model_id: str, tokens: int) -> tuple[float, float, int]:
    started = time.perf_counter()
    first, text = None, ""
    for chunk in client.chat.completions.create(
        model=model_id, messages=PROMPT, max_tokens=tokens, temperature=0, stream=True
    ):
        piece = chunk.choices[0].delta.content if chunk.choices else None
        if piece:
            first = first or time.perf_counter() - started
            text += piece
    total = time.perf_counter() - started
    return first or total, total, text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=64)
    args = parser.parse_args()
    import openai
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path, model_id, token = setup()
    client = openai.OpenAI(api_key=token, base_url=serve(), max_retries=0)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    baseline(model, tokenizer, 4)  # warm both: the first call loads the model into Hone's cache
    hone(client, model_id, 4)
    rows: dict[str, list[tuple[float, float, int]]] = {"baseline": [], "hone": []}
    for _ in range(args.runs):
        rows["baseline"].append(baseline(model, tokenizer, args.tokens))
        ttft, total, text = hone(client, model_id, args.tokens)
        rows["hone"].append((ttft, total, len(tokenizer(text, add_special_tokens=False)["input_ids"])))
    report(rows, args)


def report(rows: dict, args) -> None:
    threads = os.environ.get("OMP_NUM_THREADS", "-")
    load = os.getloadavg()[0]
    print(
        f"demo model, greedy, {args.tokens} new tokens, {args.runs} runs, "
        f"OMP_NUM_THREADS={threads}, load {load:.1f}"
    )
    medians = {}
    for name, found in rows.items():
        ttft = statistics.median(r[0] for r in found)
        rate = statistics.median(r[2] / r[1] for r in found)
        new = statistics.median(r[2] for r in found)
        medians[name] = (ttft, rate)
        print(f"  {name:8}  TTFT {ttft * 1000:7.1f} ms   {rate:6.1f} tokens/s   ({new:.0f} new tokens)")
    (b_ttft, b_rate), (h_ttft, h_rate) = medians["baseline"], medians["hone"]
    print(f"  ratio hone/baseline: TTFT ×{h_ttft / b_ttft:.2f}, tokens/s ×{h_rate / b_rate:.2f}")


if __name__ == "__main__":
    main()
