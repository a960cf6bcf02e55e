"""Completions from any Hone model or adapter, on CPU in the web process: the playground's loaded-model
cache (``jobs.playground.generation``: an LRU bounded in count and memory, one generation per model at
a time) with OpenAI's sampling options — temperature, top_p, max_tokens, stop, n, seed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from api.openai_compat.errors import InvalidRequest
from jobs.models import ModelAsset
from jobs.playground import generation
from jobs.playground.generation import Loaded, PlaygroundError

MAX_N = 8
MAX_STOPS = 4
DEFAULT_MAX_TOKENS = 64


@dataclass(frozen=True)
class Options:
    max_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float = 1.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    n: int = 1
    seed: int | None = None

    def sampling(self) -> dict:
        """generate()'s sampling arguments; temperature 0 is greedy, as in OpenAI's API."""
        if self.temperature == 0:
            return {}
        return {"temperature": self.temperature, "top_p": self.top_p}


def _number(body: dict, name: str, default, low: float, high: float, *, whole: bool = False):
    value = body.get(name)
    if value is None:
        return default
    kinds = int if whole else int | float
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        what = "a whole number" if whole else "a number"
        raise InvalidRequest(f"{name} must be {what} from {low:g} to {high:g}, got {value!r}.", param=name)
    return value


def options_of(body: dict) -> Options:
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else stop if stop is not None else []
    if (
        not isinstance(stops, list)
        or len(stops) > MAX_STOPS
        or not all(isinstance(s, str) and s for s in stops)
    ):
        raise InvalidRequest(
            f"stop must be text or a list of up to {MAX_STOPS} non-empty texts.", param="stop"
        )
    limit = generation.MAX_NEW_TOKENS
    tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    name = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
    return Options(
        max_tokens=_number({name: tokens}, name, DEFAULT_MAX_TOKENS, 1, limit, whole=True),
        temperature=float(_number(body, "temperature", 1.0, 0, 2)),
        top_p=float(_number(body, "top_p", 1.0, 0.01, 1)),
        stop=tuple(stops),
        n=_number(body, "n", 1, 1, MAX_N, whole=True),
        seed=_number(body, "seed", None, 0, 2**32 - 1, whole=True),
    )


def loaded_lm(model: ModelAsset, param: str = "model") -> Loaded:
    """The model ready to generate; a classifier or a format transformers cannot run is a 400."""
    if model.task != ModelAsset.Task.CAUSAL_LM:
        raise InvalidRequest(
            f"{model.name} is a classification model; it labels text and writes none.", param=param
        )
    try:
        return generation.load(model)
    except PlaygroundError as exc:
        raise InvalidRequest(str(exc), param=param, code="model_not_servable") from None


def chat_prompt(loaded: Loaded, messages: list[dict]) -> list[int]:
    from trainers.examples import render

    text = render(loaded.tokenizer, messages, generation_prompt=True)
    return _bounded(loaded, loaded.tokenizer(text, add_special_tokens=False)["input_ids"], len(text))


def text_prompt(loaded: Loaded, prompt: str) -> list[int]:
    return _bounded(loaded, loaded.tokenizer(prompt)["input_ids"], len(prompt))


def _bounded(loaded: Loaded, ids: list[int], chars: int) -> list[int]:
    if chars > generation.MAX_PROMPT_CHARS * 4 or len(ids) > generation.MAX_PROMPT_TOKENS:
        raise InvalidRequest(
            f"The prompt is {len(ids):,} tokens; at most {generation.MAX_PROMPT_TOKENS:,} are served here.",
            param="messages",
            code="context_length_exceeded",
        )
    return ids


@dataclass
class Piece:
    text: str
    finish_reason: str | None = None  # set on the last piece: "stop" or "length"
    tokens: int = 0  # on the last piece: the tokens this choice generated


def pieces(loaded: Loaded, ids: list[int], options: Options, index: int = 0) -> Iterator[Piece]:
    """One choice's text as it is written, cut at the first stop sequence; the last piece says why it
    ended."""
    seed = options.seed + index if options.seed is not None else None
    written, sent = "", 0
    # A stop sequence may arrive split over pieces: hold back as many characters as the longest could need.
    hold = max((len(s) for s in options.stop), default=1) - 1
    usage: dict = {}
    stream = generation.stream_ids(
        loaded, ids, max_new_tokens=options.max_tokens, sampling=options.sampling(), seed=seed, usage=usage
    )
    try:
        for text in stream:
            written += text
            cut = min((written.find(s) for s in options.stop if s in written), default=-1)
            if cut >= 0:
                if cut > sent:
                    yield Piece(written[sent:cut])
                yield Piece("", "stop", usage["completion_tokens"])
                return
            if len(written) - hold > sent:
                yield Piece(written[sent : len(written) - hold])
                sent = len(written) - hold
    finally:
        stream.close()  # stops the generation when the stop sequence (or the client) ends it early
    if len(written) > sent:
        yield Piece(written[sent:])
    tokens = usage["completion_tokens"]
    yield Piece("", "length" if tokens >= options.max_tokens else "stop", tokens)
