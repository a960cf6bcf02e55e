"""Try a model in the web process: stream a generation, or classify a text.

Models load on first use into a small least-recently-used cache (at most ``CACHE_SIZE`` models
and ``HONE_SERVE_CACHE_MB`` of weights per web process; the newest stays even when alone it is
larger) and each generates one request at a time under its own lock, so a busy model says
so instead of piling up threads. An adapter loads with peft on its base model; its "base"
side in a side-by-side run is the same weights with the adapter switched off, so both sides
cost one model's memory. Prompts are bounded in characters and tokens, new tokens are
capped, and a generation stops at ``GENERATION_SECONDS`` or when the browser goes away.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings as django_settings

from jobs.models import Job, ModelAsset

CACHE_SIZE = 2
MAX_PROMPT_CHARS = 4000
MAX_PROMPT_TOKENS = 1024
MAX_NEW_TOKENS = 256
GENERATION_SECONDS = 60
BUSY_WAIT_SECONDS = 20
CLASSIFY_MAX_TOKENS = 512


class PlaygroundError(Exception):
    """The model cannot be tried as asked; the message says why and what to do."""


@dataclass
class Loaded:
    model: object
    tokenizer: object
    kind: str  # "lm" or "classifier"
    has_adapter: bool
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def bytes(self) -> int:
        """Memory its weights take (parameters and buffers)."""
        tensors = [*self.model.parameters(), *self.model.buffers()]
        return sum(t.numel() * t.element_size() for t in tensors)


_cache: OrderedDict[tuple, Loaded] = OrderedDict()
_cache_lock = threading.Lock()
_load_lock = threading.Lock()  # one load at a time: two large loads at once could exhaust memory


def base_of(asset: ModelAsset) -> ModelAsset | None:
    """What a model was made from, to put side by side with it: an adapter's base, or the
    base model of the job that produced it."""
    if asset.format == ModelAsset.Format.ADAPTER:
        return asset.adapter_base
    job = Job.objects.filter(pk=asset.produced_by_id).select_related("base_model").first()
    base = job.base_model if job else None
    if base is None or base.pk == asset.pk or base.format == ModelAsset.Format.GGUF:
        return None
    return base.adapter_base if base.format == ModelAsset.Format.ADAPTER else base


def unsupported_reason(asset: ModelAsset) -> str:
    """Why this model cannot be tried here; empty when it can."""
    if asset.format == ModelAsset.Format.GGUF:
        return (
            "GGUF files are not supported in the playground, which runs models with transformers. "
            "Download the file and run it with llama.cpp, Ollama or LM Studio, or try the model it was "
            "made from."
        )
    if asset.format == ModelAsset.Format.ADAPTER and asset.adapter_base is None:
        return "This adapter does not record its base model, so it cannot be loaded."
    return ""


def _source(asset: ModelAsset) -> str:
    return asset.path or asset.hub_id


def _key(asset: ModelAsset) -> tuple:
    path = Path(asset.path) if asset.path else None
    stamp = path.stat().st_mtime if path and path.exists() else 0
    return (asset.pk, _source(asset), stamp)


def load(asset: ModelAsset) -> Loaded:
    """The model ready to run, from the cache or loaded now."""
    reason = unsupported_reason(asset)
    if reason:
        raise PlaygroundError(reason)
    key = _key(asset)
    found = _from_cache(key)
    if found:
        return found
    with _load_lock:
        found = _from_cache(key)  # loaded by another request while this one waited
        if found:
            return found
        loaded = _load(asset)
        with _cache_lock:
            _cache[key] = loaded
            _evict()
        return loaded


def _evict() -> None:
    """Oldest first, until the cache holds at most CACHE_SIZE models within the memory limit."""
    limit = django_settings.HONE_SERVE_CACHE_MB * 1024 * 1024
    while len(_cache) > 1 and (len(_cache) > CACHE_SIZE or sum(m.bytes for m in _cache.values()) > limit):
        _cache.popitem(last=False)


def _from_cache(key: tuple) -> Loaded | None:
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    return None


def cached(asset: ModelAsset) -> bool:
    with _cache_lock:
        return _key(asset) in _cache


def _load(asset: ModelAsset) -> Loaded:
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    from trainers.examples import ensure_chat_template
    from trainers.pooled_classifier import is_pooled_classifier, load_pooled_classifier
    from trainers.training_record import trained_chat_template

    try:
        if asset.task == ModelAsset.Task.CLASSIFICATION:
            if asset.format == ModelAsset.Format.ADAPTER:
                return _load_classifier_adapter(asset)
            if is_pooled_classifier(_source(asset)):  # a head on the pooled embedding, not transformers'
                model = load_pooled_classifier(_source(asset))
            else:
                model = AutoModelForSequenceClassification.from_pretrained(_source(asset),
                                                                           dtype=torch.float32)
                _check_head(asset, model)
            tokenizer = AutoTokenizer.from_pretrained(_source(asset))
            return Loaded(model.eval(), tokenizer, "classifier", False)
        if asset.format == ModelAsset.Format.ADAPTER:
            from peft import PeftModel

            base = AutoModelForCausalLM.from_pretrained(_source(asset.adapter_base), dtype=torch.float32)
            model = PeftModel.from_pretrained(base, asset.path)
            own_tokenizer = (Path(asset.path) / "tokenizer_config.json").is_file()
            tokenizer = AutoTokenizer.from_pretrained(
                asset.path if own_tokenizer else _source(asset.adapter_base)
            )
        else:
            model = AutoModelForCausalLM.from_pretrained(_source(asset), dtype=torch.float32)
            tokenizer = AutoTokenizer.from_pretrained(_source(asset))
    except (OSError, ValueError, KeyError) as exc:
        raise PlaygroundError(f"{asset.name} could not be loaded: {exc}") from None
    if recorded := trained_chat_template(asset.path):
        tokenizer.chat_template = recorded  # the template its training rows were rendered with
    ensure_chat_template(tokenizer)
    return Loaded(model.eval(), tokenizer, "lm", asset.format == ModelAsset.Format.ADAPTER)


def _load_classifier_adapter(asset: ModelAsset) -> Loaded:
    """A classifier adapter: its base gets a head sized from the adapter's labels.json, then peft
    puts the trained head and adapter weights on top."""
    import json

    import torch
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    labels_file = Path(asset.path) / "labels.json"
    if not labels_file.is_file():
        raise PlaygroundError(f"{asset.name} has no labels.json, so its labels are unknown.")
    id2label = {int(i): name for i, name in json.loads(labels_file.read_text())["id2label"].items()}
    base = AutoModelForSequenceClassification.from_pretrained(
        _source(asset.adapter_base),
        dtype=torch.float32,
        num_labels=len(id2label),
        id2label=id2label,
        label2id={name: i for i, name in id2label.items()},
        ignore_mismatched_sizes=True,  # the base's own head (if any) is replaced by the trained one
    )
    model = PeftModel.from_pretrained(base, asset.path)
    own_tokenizer = (Path(asset.path) / "tokenizer_config.json").is_file()
    tokenizer = AutoTokenizer.from_pretrained(asset.path if own_tokenizer else _source(asset.adapter_base))
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.config.pad_token_id = tokenizer.pad_token_id
    return Loaded(model.eval(), tokenizer, "classifier", True)


def _check_head(asset: ModelAsset, model) -> None:
    architectures = getattr(model.config, "architectures", None) or []
    if not any(name.endswith("ForSequenceClassification") for name in architectures):
        raise PlaygroundError(
            f"{asset.name} is an encoder without a trained classification head, so its labels would be "
            "random. Try a classifier fine-tuned from it instead."
        )


@dataclass(frozen=True)
class Settings:
    mode: str  # "chat" or "complete"
    prompt: str
    system: str = ""
    max_new_tokens: int = 64
    temperature: float = 0.0  # 0: greedy
    # A whole chat to answer (chat mode), instead of ``system`` and ``prompt``: the reward preview's rows.
    messages: tuple[dict, ...] = ()

    def chat(self) -> list[dict]:
        """The turns the chat template renders."""
        if self.messages:
            return [dict(m) for m in self.messages]
        turns = [{"role": "system", "content": self.system}] if self.system else []
        return [*turns, {"role": "user", "content": self.prompt}]


def prompt_ids(loaded: Loaded, settings: Settings) -> list[int]:
    """The ids the model continues from: the chat template's generation prompt, or the raw text."""
    from trainers.examples import render

    given = sum(len(str(m.get("content") or "")) for m in settings.messages) or len(settings.prompt)
    if given > MAX_PROMPT_CHARS:
        raise PlaygroundError(f"The prompt is {given:,} characters; at most {MAX_PROMPT_CHARS:,} fit.")
    tokenizer = loaded.tokenizer
    if settings.mode == "chat":
        messages = settings.chat()
        ids = tokenizer(render(tokenizer, messages, generation_prompt=True), add_special_tokens=False)[
            "input_ids"
        ]
    else:
        ids = tokenizer(settings.prompt)["input_ids"]
    limit = min(MAX_PROMPT_TOKENS, _context_length(loaded) - settings.max_new_tokens)
    if len(ids) > limit:
        raise PlaygroundError(
            f"The prompt is {len(ids):,} tokens; at most {max(limit, 0):,} fit with "
            f"{settings.max_new_tokens} new tokens. Shorten it."
        )
    return ids


def _context_length(loaded: Loaded) -> int:
    return int(getattr(loaded.model.config, "max_position_embeddings", 0) or 4096)


class _StopWhenSet:
    """A stopping criterion: the browser went away."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool)


def stream(loaded: Loaded, settings: Settings, *, adapter: bool = True) -> Iterator[str]:
    """Pieces of text as the model writes them. With ``adapter=False`` an adapter is switched off."""
    ids = prompt_ids(loaded, settings)
    sampling = {"temperature": settings.temperature, "top_p": 0.95} if settings.temperature > 0 else {}
    yield from stream_ids(
        loaded, ids, max_new_tokens=settings.max_new_tokens, sampling=sampling, adapter=adapter
    )


def stream_ids(
    loaded: Loaded,
    ids: list[int],
    *,
    max_new_tokens: int,
    sampling: dict | None = None,
    seed: int | None = None,
    adapter: bool = True,
    usage: dict | None = None,
) -> Iterator[str]:
    """Pieces of text continuing ``ids``; greedy unless ``sampling`` holds temperature / top_p. Closing
    the iterator early (a stop sequence, a client gone) stops the generation. ``usage`` gets
    ``completion_tokens``: the tokens generated so far."""
    import torch

    if not loaded.lock.acquire(timeout=BUSY_WAIT_SECONDS):
        raise PlaygroundError("This model is busy with another request; try again in a moment.")
    stop = threading.Event()
    failure: list[BaseException] = []
    streamer = _counting_streamer(loaded.tokenizer, usage if usage is not None else {})
    kwargs = _generate_kwargs(loaded, ids, max_new_tokens, streamer, stop)
    if sampling:
        kwargs |= {"do_sample": True, **sampling}

    def generate() -> None:
        switch = loaded.model.disable_adapter() if loaded.has_adapter and not adapter else nullcontext()
        try:
            if seed is not None:  # under the model's lock: one generation draws from the generator at a time
                torch.manual_seed(seed)
            with switch, torch.inference_mode():
                loaded.model.generate(**kwargs)
        except Exception as exc:  # surfaced to the page below, never a hung stream
            failure.append(exc)
            streamer.end()

    worker = threading.Thread(target=generate, name="hone-playground", daemon=True)
    try:
        worker.start()
        yield from streamer
        if failure:
            raise PlaygroundError(f"The model stopped with an error: {failure[0]}")
    finally:
        stop.set()
        worker.join(timeout=GENERATION_SECONDS + 30)
        loaded.lock.release()


def _generate_kwargs(
    loaded: Loaded, ids: list[int], max_new_tokens: int, streamer, stop: threading.Event
) -> dict:
    """generate()'s arguments for one greedy generation, bounded in tokens and time."""
    import torch
    from transformers import StoppingCriteriaList

    tokenizer = loaded.tokenizer
    return {
        "input_ids": torch.tensor([ids]),
        "attention_mask": torch.ones(1, len(ids), dtype=torch.long),
        "max_new_tokens": min(max_new_tokens, MAX_NEW_TOKENS),
        "do_sample": False,
        "max_time": GENERATION_SECONDS,
        "streamer": streamer,
        "stopping_criteria": StoppingCriteriaList([_StopWhenSet(stop)]),
        "pad_token_id": tokenizer.pad_token_id
        if tokenizer.pad_token_id is not None
        else tokenizer.eos_token_id,
    }


def _counting_streamer(tokenizer, usage: dict):
    """A TextIteratorStreamer that also counts the tokens it is handed (decoded text re-tokenizes
    differently, so counting it would be wrong)."""
    from transformers import TextIteratorStreamer

    class Counting(TextIteratorStreamer):
        def put(self, value) -> None:
            if not (self.skip_prompt and self.next_tokens_are_prompt):
                usage["completion_tokens"] = usage.get("completion_tokens", 0) + int(value.numel())
            super().put(value)

    usage["completion_tokens"] = 0
    return Counting(tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=GENERATION_SECONDS + 30)


def classify(loaded: Loaded, text: str) -> list[tuple[str, float]]:
    """Every label with its probability, most likely first."""
    import torch

    if len(text) > MAX_PROMPT_CHARS:
        raise PlaygroundError(f"The text is {len(text):,} characters; at most {MAX_PROMPT_CHARS:,} fit.")
    if not loaded.lock.acquire(timeout=BUSY_WAIT_SECONDS):
        raise PlaygroundError("This model is busy with another request; try again in a moment.")
    try:
        inputs = loaded.tokenizer(text, truncation=True, max_length=CLASSIFY_MAX_TOKENS, return_tensors="pt")
        with torch.inference_mode():
            probabilities = loaded.model(**inputs).logits.softmax(-1)[0].tolist()
    finally:
        loaded.lock.release()
    labels = loaded.model.config.id2label
    ranked = [(str(labels.get(i, i)), p) for i, p in enumerate(probabilities)]
    return sorted(ranked, key=lambda pair: pair[1], reverse=True)


def run(loaded: Loaded, settings: Settings, *, adapter: bool = True) -> tuple[str, float]:
    """The whole generation at once (the page without JavaScript), and the seconds it took."""
    started = time.monotonic()
    text = "".join(stream(loaded, settings, adapter=adapter))
    return text, time.monotonic() - started
