"""``chat/completions`` and ``completions``, whole or streamed as server-sent events (``stream: true``:
one ``data: {chunk}`` per piece of text, then ``data: [DONE]``). Viewers may call them: generating
changes nothing in the team."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator

from django.http import StreamingHttpResponse
from rest_framework.request import Request
from rest_framework.response import Response

from api.auth import TeamMember
from api.openai_compat import errors, lookup, serving
from api.openai_compat.base import OpenAIView
from jobs.playground.generation import PlaygroundError

ROLES = ("system", "user", "assistant", "developer")


def _messages(body: dict) -> list[dict]:
    """The conversation as role / text pairs; content parts of type text are joined."""
    given = body.get("messages")
    if not isinstance(given, list) or not given:
        raise errors.InvalidRequest("messages must be a non-empty list of messages.", param="messages")
    found = []
    for index, message in enumerate(given):
        where = f"messages[{index}]"
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise errors.InvalidRequest(
                f"{where}.role must be one of {', '.join(ROLES)}.", param=f"{where}.role"
            )
        content = message.get("content")
        if isinstance(content, list):
            parts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
            content = "".join(p for p in parts if isinstance(p, str)) if len(parts) == len(content) else None
        if not isinstance(content, str):
            raise errors.InvalidRequest(
                f"{where}.content must be text (or text parts); images, audio and tool calls are not served.",
                param=f"{where}.content",
            )
        role = "system" if message["role"] == "developer" else message["role"]
        found.append({"role": role, "content": content})
    return found


def _sse(chunks: Iterator[dict]) -> Iterator[bytes]:
    try:
        for chunk in chunks:
            yield b"data: " + json.dumps(chunk).encode() + b"\n\n"
    except (PlaygroundError, errors.OpenAIError) as exc:  # the status is sent already: the error is an event
        yield b"data: " + json.dumps(errors.body(400, str(exc))).encode() + b"\n\n"
    yield b"data: [DONE]\n\n"


class Completion(OpenAIView):
    """What chat and text completions share: the model, its options, whole or streamed answers."""

    permission_classes = [TeamMember]
    object_name = ""

    def post(self, request: Request):
        body = request.data if isinstance(request.data, dict) else {}
        name = body.get("model")
        if not isinstance(name, str) or not name:
            raise errors.InvalidRequest(
                "model is required.", param="model", code="missing_required_parameter"
            )
        model = lookup.find(self.team, name)
        prompt_of = self.prompt(body)
        options = serving.options_of(body)
        loaded = serving.loaded_lm(model)
        ids = prompt_of(loaded)
        head = {"id": f"{self.id_prefix}-{secrets.token_hex(12)}", "created": int(time.time()), "model": name}
        if body.get("stream"):
            options_of_stream = body.get("stream_options") or {}
            usage = isinstance(options_of_stream, dict) and options_of_stream.get("include_usage") is True
            response = StreamingHttpResponse(
                _sse(self.chunks(loaded, ids, options, head, usage=usage)), content_type="text/event-stream"
            )
            response["Cache-Control"] = "no-cache"
            return response
        try:
            return Response(self.whole(loaded, ids, options, head))
        except PlaygroundError as exc:  # the model is busy, or failed while generating
            raise errors.Busy(str(exc), code="model_busy") from None

    def whole(self, loaded, ids: list[int], options: serving.Options, head: dict) -> dict:
        choices, used = [], 0
        for index in range(options.n):
            text, reason, tokens = "", "stop", 0
            for piece in serving.pieces(loaded, ids, options, index):
                text += piece.text
                reason, tokens = piece.finish_reason or reason, piece.tokens
            used += tokens
            choices.append(self.choice(index, text, reason))
        usage = {"prompt_tokens": len(ids), "completion_tokens": used, "total_tokens": len(ids) + used}
        return {**head, "object": self.object_name, "choices": choices, "usage": usage}

    def chunks(
        self, loaded, ids: list[int], options: serving.Options, head: dict, *, usage: bool
    ) -> Iterator[dict]:
        """Each choice's pieces in turn; with ``stream_options.include_usage``, a last chunk of usage."""
        used = 0
        for index in range(options.n):
            yield self.chunk(head, index, "", None, first=True)
            for piece in serving.pieces(loaded, ids, options, index):
                used += piece.tokens
                if piece.text or piece.finish_reason:
                    yield self.chunk(head, index, piece.text, piece.finish_reason)
        if usage:
            counts = {"prompt_tokens": len(ids), "completion_tokens": used, "total_tokens": len(ids) + used}
            yield {**self.chunk(head, 0, "", None), "choices": [], "usage": counts}


class ChatCompletions(Completion):
    object_name = "chat.completion"
    id_prefix = "chatcmpl"

    def prompt(self, body: dict):
        messages = _messages(body)
        return lambda loaded: serving.chat_prompt(loaded, messages)

    def choice(self, index: int, text: str, reason: str) -> dict:
        message = {"role": "assistant", "content": text, "refusal": None}
        return {"index": index, "message": message, "finish_reason": reason, "logprobs": None}

    def chunk(self, head: dict, index: int, text: str, reason: str | None, *, first: bool = False) -> dict:
        delta = {"role": "assistant", "content": ""} if first else ({"content": text} if text else {})
        choice = {"index": index, "delta": delta, "finish_reason": reason, "logprobs": None}
        return {**head, "object": "chat.completion.chunk", "choices": [choice]}


class Completions(Completion):
    object_name = "text_completion"
    id_prefix = "cmpl"

    def prompt(self, body: dict):
        prompt = body.get("prompt")
        if isinstance(prompt, list) and len(prompt) == 1:
            prompt = prompt[0]
        if not isinstance(prompt, str) or not prompt:
            raise errors.InvalidRequest(
                "prompt must be a non-empty text (one prompt per request).", param="prompt"
            )
        return lambda loaded: serving.text_prompt(loaded, prompt)

    def choice(self, index: int, text: str, reason: str) -> dict:
        return {"index": index, "text": text, "finish_reason": reason, "logprobs": None}

    def chunk(self, head: dict, index: int, text: str, reason: str | None, *, first: bool = False) -> dict:
        if first:
            return {**head, "object": "text_completion", "choices": [self.choice(index, "", None)]}
        return {**head, "object": "text_completion", "choices": [self.choice(index, text, reason)]}
