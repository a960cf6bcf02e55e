"""The judge through an OpenAI-compatible chat completions endpoint the operator configured.

The same question as a Hone judge is asked (judge.py's INSTRUCTION) for one token at temperature 0,
with ``logprobs``: the margin is ``log P("A") - log P("B")`` from the first token's top log
probabilities, as a local judge reads it from its logits. An endpoint that returns no log
probabilities (Hone's own /openai/v1 among them) gives its answer only: A is +1, B is -1, anything
else 0. Position swapping (judge.PairwiseJudge.compare) works the same on either.

The API key is read from the trainer's environment (``HONE_JUDGE_API_KEY``), which the platform sets
for this job only; it is never in the spec, and no message here names it.
"""

from __future__ import annotations

import math
import os
from typing import Any

from trainers.evaluation.judge import INSTRUCTION, PairwiseJudge
from trainers.spec_evaluate import JUDGE_KEY_ENV, JudgeEndpoint

TOP_LOGPROBS = 10
FLOOR = -30.0  # the log probability of a letter not among the top ones (nats): far below any seen
TIMEOUT_SECONDS = 120


class JudgeEndpointError(RuntimeError):
    """The endpoint did not answer (unreachable, refused the key, an error): a failure the job reports."""


class EndpointJudge(PairwiseJudge):
    def __init__(self, endpoint: JudgeEndpoint, rubric: str, client: Any = None) -> None:
        import openai

        self.endpoint, self.rubric = endpoint, rubric
        key = os.environ.get(JUDGE_KEY_ENV) or "none"  # an endpoint without keys still wants a value
        self.client = client or openai.OpenAI(
            base_url=endpoint.base_url, api_key=key, timeout=TIMEOUT_SECONDS, max_retries=2
        )

    def margin(self, question: str, first: str, second: str) -> float:
        import openai

        content = INSTRUCTION.format(rubric=self.rubric, question=question, first=first, second=second)
        try:
            reply = self.client.chat.completions.create(
                model=self.endpoint.model,
                messages=[{"role": "user", "content": content}],
                max_tokens=1,
                temperature=0,
                logprobs=True,
                top_logprobs=TOP_LOGPROBS,
            )
        except openai.APIError as exc:  # its message is the endpoint's, which never holds our key
            raise JudgeEndpointError(f"the judge endpoint {self.endpoint.base_url} failed: {exc}") from None
        return reply_margin(reply)


def reply_margin(reply: Any) -> float:
    """``log P(A) - log P(B)`` from the reply's first token, or ±1 from its answer alone."""
    choice = reply.choices[0]
    tokens = getattr(getattr(choice, "logprobs", None), "content", None) or []
    if tokens and tokens[0].top_logprobs:
        found = {"A": FLOOR, "B": FLOOR}
        for candidate in tokens[0].top_logprobs:
            letter = candidate.token.strip().upper()
            if letter in found and math.isfinite(candidate.logprob):
                found[letter] = max(found[letter], candidate.logprob)
        return found["A"] - found["B"]
    answer = (choice.message.content or "").strip().upper()[:1]
    return {"A": 1.0, "B": -1.0}.get(answer, 0.0)
