"""The evaluate job spec (kind "evaluate"): a base and a candidate model, measured the same way.

Language models get perplexity on held-out text and greedy generations on a fixed prompt set;
sequence classifiers get accuracy and macro-F1 on text + label rows. Either side may be a model
directory with a LoRA adapter on top (``adapter_path``), or a GGUF file in a directory
(``gguf_file``), which transformers dequantizes to evaluate.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from trainers.spec import SPEC_VERSION, DatasetRef, EventsSink, ModelRef, _Strict

DEFAULT_PROMPTS = (
    "Explain in two sentences what a neural network is.",
    "Write a short poem about the sea.",
    "What is 17 plus 25?",
    "Give three tips for writing clear emails.",
    "Summarise the water cycle for a ten-year-old.",
)


class EvaluatedModel(_Strict):
    """A model to evaluate: a model reference, optionally with an adapter or as a GGUF file."""

    model: ModelRef
    adapter_path: str | None = Field(None, description="A PEFT (LoRA) adapter directory applied on top.")
    gguf_file: str | None = Field(
        None, description="A .gguf file name inside model.path; transformers dequantizes it to evaluate."
    )

    @model_validator(mode="after")
    def _one_extra(self) -> EvaluatedModel:
        if self.adapter_path and self.gguf_file:
            raise ValueError("give adapter_path or gguf_file, not both")
        if self.gguf_file and self.model.path is None:
            raise ValueError("gguf_file needs model.path, the directory that holds it")
        return self


class HarnessParams(_Strict):
    """What a person chooses of a harness run (an evaluate job's ``params.harness``)."""

    tasks: list[str] = Field(
        default_factory=list, max_length=50,
        description="Harness tasks by name, from the task directories the operator installed "
        "(HONE_HARNESS_TASK_DIRS).",
    )
    num_fewshot: int = Field(0, ge=0, le=25)
    limit: int | None = Field(None, ge=1, le=100_000, description="At most this many documents per task.")
    chat_template: Literal["auto", "on", "off"] = Field(
        "auto",
        description="auto: the chat template is applied when a model was trained by Hone with one "
        "(its training record says so), so it is measured as it was taught to read; off otherwise.",
    )


class HarnessSpec(HarnessParams):
    """Standard suites through lm-evaluation-harness, on data that is already on disk.

    ``datasets`` are Hone multiple-choice datasets (question, choices, answer): each becomes a harness
    task named ``hone_mc_<n>`` (its prompt "Question: ...\nAnswer:", metrics acc and acc_norm, as the
    harness's own ARC and MMLU-style tasks). ``tasks`` names tasks in ``task_dirs`` (YAML task files
    the operator installed, or that ship in a package), whose data must be local files: nothing is
    downloaded at run time. The platform fills ``task_dirs`` from its settings and ``datasets`` from
    the job's ``harness`` inputs; a person never gives paths.
    """

    task_dirs: list[str] = Field(default_factory=list, max_length=20)
    datasets: list[DatasetRef] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _some_task(self) -> HarnessSpec:
        if not self.tasks and not self.datasets:
            raise ValueError("name harness tasks or give multiple-choice datasets to run as tasks")
        return self


class JudgeParams(_Strict):
    """What a person chooses of a judge (an evaluate job's ``params.judge``)."""

    rubric: str = Field(
        min_length=1, max_length=4000, description="What makes one answer better than another."
    )
    swap_positions: bool = Field(
        True, description="Judge each pair in both orders and average, so a pull towards answer A cancels."
    )
    use_endpoint: bool = Field(
        False, description="Judge with the OpenAI-compatible endpoint the operator configured, instead of a "
        "Hone model (judge_model)."
    )


JUDGE_KEY_ENV = "HONE_JUDGE_API_KEY"  # the trainer's environment variable with the endpoint's API key


class JudgeEndpoint(_Strict):
    """An OpenAI-compatible chat completions endpoint; its API key comes in the trainer's environment
    (``HONE_JUDGE_API_KEY``), never in a spec."""

    base_url: str = Field(min_length=1, max_length=2000, pattern=r"^https?://")
    model: str = Field(min_length=1, max_length=200)


class JudgeSpec(JudgeParams):
    """A Hone model (or an OpenAI-compatible endpoint) grading the base's and the candidate's answers
    to the prompts pairwise, and, with ``labelled`` (preference rows: prompt, chosen, rejected), how
    often it agrees with those labels."""

    model: EvaluatedModel | None = None
    endpoint: JudgeEndpoint | None = None
    labelled: DatasetRef | None = None

    @model_validator(mode="after")
    def _one_judge(self) -> JudgeSpec:
        if (self.model is None) == (self.endpoint is None):
            raise ValueError("give the judge's model or its endpoint, one of them")
        if self.use_endpoint != (self.endpoint is not None):
            raise ValueError("use_endpoint and endpoint go together")
        return self


class EvaluateSpec(_Strict):
    version: Literal[1] = SPEC_VERSION
    kind: Literal["evaluate"] = "evaluate"
    job_id: int = Field(ge=1)
    attempt: int = Field(ge=1)
    base: EvaluatedModel
    candidate: EvaluatedModel
    dataset: DatasetRef | None = Field(
        None,
        description="Held-out rows: text, instruction or chat for perplexity, text + label for classifiers. "
        "Without it language models are measured on built-in passages.",
    )
    max_rows: int = Field(500, ge=1, le=100_000, description="At most this many rows are evaluated.")
    max_length: int = Field(512, ge=16, le=32768, description="Tokens per perplexity window.")
    prompts: list[str] = Field(list(DEFAULT_PROMPTS), max_length=50)
    max_new_tokens: int = Field(64, ge=1, le=2048)
    harness: HarnessSpec | None = None
    judge: JudgeSpec | None = None
    output_dir: str = Field(min_length=1)
    events: EventsSink = EventsSink()
