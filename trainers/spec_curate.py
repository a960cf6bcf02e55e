"""The curate job spec (kind "curate"): one or more datasets in, a smaller, cleaner dataset out.

Each step is optional and they combine; the budget (keep N rows or P % of the input) is required.
Steps run in this order: quality filters, exact and near duplicates (within and across the inputs,
and against an evaluation set, reported as contamination), label problems (classification data),
difficulty (classification: the rows a cross-validated classifier finds hardest to tell), fit, then
the budget: a diversity selection (k-center greedy or cluster-balanced sampling, on embeddings or
TF-IDF) when asked, else a seeded random sample. Every row ends with a reason it was kept or dropped
(``trainers/curate/reasons.py``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from trainers.curate.language import unknown_codes
from trainers.spec import SPEC_VERSION, DatasetRef, EventsSink, ModelRef, _Strict


class Budget(_Strict):
    """How much to keep: exactly one of a number of rows or a share of all input rows."""

    keep_rows: int | None = Field(None, ge=1, le=100_000_000, description="Keep at most this many rows.")
    keep_percent: float | None = Field(
        None, gt=0.0, le=100.0, description="Keep at most this share of all input rows (100: filter only)."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Budget:
        if (self.keep_rows is None) == (self.keep_percent is None):
            raise ValueError("give exactly one of keep_rows or keep_percent")
        return self

    def rows(self, total: int) -> int:
        if self.keep_rows is not None:
            return min(self.keep_rows, total)
        return min(total, max(1, round(total * (self.keep_percent or 0) / 100)))


class DedupStep(_Strict):
    exact: bool = Field(
        True, description="Drop rows whose normalised text (case, spaces, punctuation) repeats."
    )
    near: bool = Field(True, description="Drop rows that nearly repeat another (MinHash LSH).")
    threshold: float = Field(
        0.8, ge=0.3, le=1.0, description="Near duplicates share at least this Jaccard similarity of shingles."
    )
    num_perm: int = Field(128, ge=16, le=512, description="MinHash permutations: more is exacter and slower.")
    shingle_words: int = Field(3, ge=1, le=10, description="Words per shingle.")


class QualityStep(_Strict):
    min_tokens: int | None = Field(None, ge=0, le=1_000_000, description="Drop rows shorter than this.")
    max_tokens: int | None = Field(None, ge=1, le=10_000_000, description="Drop rows longer than this.")
    max_repetition: float | None = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Drop rows where more than this share of word 3-grams are repeats (looping text).",
    )
    drop_empty: bool = Field(True, description="Drop rows whose answer is empty or only punctuation.")
    drop_truncated: bool = Field(
        False, description="Drop rows whose answer stops mid-sentence or leaves a code block open."
    )

    languages: list[str] | None = Field(
        None,
        min_length=1,
        max_length=50,
        description="Keep rows in these languages (ISO 639-1 codes such as en, de), detected offline.",
    )
    min_language_confidence: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Drop a row only when the detector names another language at least this surely.",
    )

    @model_validator(mode="after")
    def _bounds_in_order(self) -> QualityStep:
        if self.languages and (unknown := unknown_codes(self.languages)):
            raise ValueError(f"languages: {', '.join(unknown)} not a language code the detector knows")
        if self.min_tokens is not None and self.max_tokens is not None and self.min_tokens > self.max_tokens:
            raise ValueError(f"min_tokens ({self.min_tokens}) is above max_tokens ({self.max_tokens})")
        return self


class LabelStep(_Strict):
    action: Literal["list", "drop", "relabel"] = Field(
        "drop", description="What to do with suspected wrong labels: only list them, drop them, or relabel."
    )
    features: Literal["tfidf", "embeddings"] = Field(
        "tfidf",
        description="What the cross-validated classifier reads: TF-IDF words, or the embedder's vectors.",
    )
    folds: int = Field(5, ge=2, le=20, description="Cross-validation folds for out-of-sample predictions.")


class DiversityStep(_Strict):
    method: Literal["k_center", "cluster_balanced"] = Field(
        "k_center",
        description=(
            "k_center: each pick is the row farthest from those already picked (k-center greedy); "
            "cluster_balanced: k-means on the embeddings, then a random sample within each cluster."
        ),
    )
    clusters: int | None = Field(
        None,
        ge=2,
        le=10_000,
        description="cluster_balanced: k-means clusters; default the square root of the budget, at most 100.",
    )
    share: Literal["equal", "proportional"] = Field(
        "equal",
        description="cluster_balanced: as many rows from each cluster, or in proportion to its size.",
    )
    features: Literal["embeddings", "tfidf"] = Field(
        "embeddings",
        description=(
            "The space rows are spread over: the embedder's vectors, or TF-IDF words and word pairs "
            "(reduced to 128 dimensions), the space a linear text classifier reads."
        ),
    )

    def clusters_for(self, target: int) -> int:
        return self.clusters or max(2, min(100, round(target**0.5)))


class DifficultyStep(_Strict):
    """Classification: each row's out-of-fold margin under a linear classifier on TF-IDF
    (``trainers/curate/difficulty.py``); drop the rows hardest to tell, or the most obvious."""

    drop_hardest_percent: float = Field(
        20.0,
        ge=0.0,
        lt=90.0,
        description="Drop this share of rows whose text looks least like their label (lowest margin).",
    )
    drop_easiest_percent: float = Field(
        0.0, ge=0.0, lt=90.0, description="Drop this share of the most obvious rows (highest margin)."
    )
    folds: int = Field(5, ge=2, le=20, description="Cross-validation folds for out-of-sample margins.")

    @model_validator(mode="after")
    def _leaves_rows(self) -> DifficultyStep:
        if self.drop_hardest_percent + self.drop_easiest_percent >= 90:
            raise ValueError("drop_hardest_percent and drop_easiest_percent together must leave 10 % of rows")
        return self


class FitStep(_Strict):
    """Loss of each row's response under the base model (``tokenizer``): see trainers/curate/fit.py."""

    best_response_per_prompt: bool = Field(
        True,
        description="Among rows answering the same prompt, keep the response the model finds likeliest.",
    )
    drop_easiest_percent: float = Field(
        10.0, ge=0.0, lt=50.0, description="Drop this share of rows the model already writes (lowest loss)."
    )
    drop_hardest_percent: float = Field(
        10.0, ge=0.0, lt=50.0, description="Drop this share of rows farthest from the model (highest loss)."
    )
    max_tokens: int = Field(
        512, ge=16, le=8192, description="Score at most this many tokens of each row (bounds the cost)."
    )


class InfluenceStep(_Strict):
    """Rank rows by how much they would teach the base model (``tokenizer``) toward the target set,
    and fill the budget with the best: see trainers/curate/influence.py."""

    method: Literal["less", "color_filter"] = Field(
        "less",
        description=(
            "less: each row's LoRA gradient, randomly projected, against the target rows' (cosine); "
            "color_filter: how much a row's loss drops once the model has trained briefly on the target."
        ),
    )
    train_steps: int = Field(
        20,
        ge=0,
        le=10_000,
        description=(
            "LoRA steps before scoring: less, on a random sample of the rows (the warm-up); "
            "color_filter, on the target set."
        ),
    )
    learning_rate: float = Field(1e-4, gt=0.0, le=1.0, description="Learning rate of those LoRA steps.")
    lora_r: int = Field(8, ge=1, le=256, description="Rank of the LoRA whose gradients are compared.")
    preconditioner: Literal["adam", "sgd"] = Field(
        "adam",
        description=(
            "less: rows' gradients as Adam would step them after the warm-up (the paper's), "
            "or plain gradients."
        ),
    )
    projection_dims: int = Field(
        1024, ge=16, le=8192, description="less: dimensions of the random projection of the gradients."
    )
    max_tokens: int = Field(
        256, ge=16, le=8192, description="Score at most this many tokens of each row (bounds the cost)."
    )

    @model_validator(mode="after")
    def _adam_needs_steps(self) -> InfluenceStep:
        if self.method == "less" and self.preconditioner == "adam" and self.train_steps == 0:
            raise ValueError("the adam preconditioner reads the warm-up's optimizer: give train_steps ≥ 1")
        if self.method == "color_filter" and self.train_steps == 0:
            raise ValueError("color_filter compares the model before and after training on the target: "
                             "give train_steps ≥ 1")
        return self


class CurateSpec(_Strict):
    version: Literal[1] = SPEC_VERSION
    kind: Literal["curate"] = "curate"
    job_id: int = Field(ge=1)
    attempt: int = Field(ge=1)
    datasets: list[DatasetRef] = Field(min_length=1, max_length=16, description="The data to curate.")
    dataset_names: list[str] = Field(default_factory=list, description="For the report, one per dataset.")
    dataset_rows: list[int] = Field(default_factory=list, description="Rows per dataset, for progress.")
    eval_set: DatasetRef | None = Field(None, description="Rows found in here are dropped as contamination.")
    target_set: DatasetRef | None = Field(
        None, description="A few rows like those the model should get good at: the influence step's target."
    )
    budget: Budget
    dedup: DedupStep | None = None
    quality: QualityStep | None = None
    labels: LabelStep | None = None
    difficulty: DifficultyStep | None = None
    diversity: DiversityStep | None = None
    influence: InfluenceStep | None = None
    fit: FitStep | None = None
    tokenizer: ModelRef | None = Field(
        None,
        description="The model the data is for: length bounds count its tokens (else words); fit, its loss.",
    )
    embedder: ModelRef | None = Field(None, description="Embeds rows for diversity; default MiniLM.")
    seed: int = Field(0, ge=0, le=2**32 - 1)
    chunk_rows: int = Field(2000, ge=10, le=1_000_000, description="Rows read and scored at a time.")
    output_dir: str = Field(min_length=1)
    events: EventsSink = EventsSink()

    @model_validator(mode="after")
    def _data_fits(self) -> CurateSpec:
        tasks = {d.task for d in self.datasets}
        if len(tasks) > 1:
            raise ValueError(
                f"datasets: all inputs must hold the same kind of data, got {', '.join(sorted(tasks))}"
            )
        task = next(iter(tasks))
        if self.eval_set is not None and self.eval_set.task != task:
            raise ValueError(
                f"eval_set: holds {self.eval_set.task} data but the datasets hold {task}; "
                "give an evaluation set of the same kind"
            )
        if self.fit is not None and (task == "classification" or self.tokenizer is None):
            raise ValueError(
                "fit: scores responses by the loss of the model they are for: give that model (tokenizer)"
                if self.tokenizer is None
                else "fit: classification rows have no response to score"
            )
        self._influence_fits(task)
        if self.labels is not None and task != "classification":
            raise ValueError(f"labels: label problems are found in classification data; these are {task}")
        if self.difficulty is not None and task != "classification":
            raise ValueError(f"difficulty: margins are of classification data's labels; these are {task}")
        return self

    def _influence_fits(self, task: str) -> None:
        if self.target_set is not None and self.target_set.task != task:
            raise ValueError(
                f"target_set: holds {self.target_set.task} data but the datasets hold {task}; "
                "give a target set of the same kind"
            )
        if self.influence is None:
            if self.target_set is not None:
                raise ValueError("target_set: only the influence step reads it; add one or leave it out")
            return
        if self.diversity is not None:
            raise ValueError("influence: fills the budget itself; choose it or diversity, not both")
        if task == "classification":
            raise ValueError("influence: ranks rows by a language model's loss; classification has none")
        needs = (("target_set", "the rows to get good at"), ("tokenizer", "the model the data is for"))
        for field, what in needs:
            if getattr(self, field) is None:
                raise ValueError(f"{field}: the influence step needs {what}")

    @property
    def task(self) -> str:
        return self.datasets[0].task
