"""The OpenAI-compatible API driven by the official ``openai`` client against a live server, with a
Hone personal access token as the API key (one client per role)."""

from __future__ import annotations

import json

import openai
import pytest

from tests.api.helpers import token_for


@pytest.fixture(autouse=True)
def _api_settings(settings) -> None:
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.HONE_API_RATE = "100000/min"
    from django.core.cache import cache

    cache.clear()


def client_of(live_server, user, team) -> openai.OpenAI:
    # No retries: a refusal must surface at once, as the exception the client raises for it.
    return openai.OpenAI(
        api_key=token_for(user, team), base_url=f"{live_server.url}/openai/v1", max_retries=0, timeout=120
    )


@pytest.fixture
def clients(transactional_db, live_server):
    """Clients made per test, closed after it: a kept-alive connection would keep a server thread,
    and its database session, alive past the test database's teardown."""
    made: list[openai.OpenAI] = []

    def make(user, team) -> openai.OpenAI:
        made.append(client_of(live_server, user, team))
        return made[-1]

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(clients, member, team) -> openai.OpenAI:
    return clients(member, team)


@pytest.fixture
def viewer_client(clients, viewer, team) -> openai.OpenAI:
    return clients(viewer, team)


@pytest.fixture
def outsider_client(clients, outsider, other_team) -> openai.OpenAI:
    return clients(outsider, other_team)


def chat_rows(n: int = 24) -> list[dict]:
    """OpenAI's chat fine-tuning format, from the demo's learnable toy tasks."""
    from trainers.tiny import demo_instruction_rows

    return [
        {
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": f"{row['instruction']} {row['input']}".strip()},
                {"role": "assistant", "content": row["output"]},
            ]
        }
        for row in demo_instruction_rows(n)
    ]


def preference_rows(n: int = 12) -> list[dict]:
    """OpenAI's preference (DPO) fine-tuning format."""
    from trainers.tiny import demo_instruction_rows

    return [
        {
            "input": {"messages": [{"role": "user", "content": f"{r['instruction']} {r['input']}".strip()}]},
            "preferred_output": [{"role": "assistant", "content": r["output"]}],
            "non_preferred_output": [{"role": "assistant", "content": r["output"][::-1] + " no"}],
        }
        for r in demo_instruction_rows(n)
    ]


def jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()
