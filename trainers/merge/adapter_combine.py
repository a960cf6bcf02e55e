"""Combine several LoRA adapters of one base into one adapter, with peft's ``add_weighted_adapter``.

peft needs a model to hang the adapters on, but only the shapes of the base's layers matter to it
(the combination uses the adapters' A and B alone). So the base is built as a skeleton: the real
module structure, each parameter a zero-stride view of a single element. Memory is that of the
adapters, however large the base. The result is an adapter (output "adapter"), loadable with
``PeftModel.from_pretrained`` on the same base; fold it with lora_fold for a standalone model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from trainers.merge.method import MergeMethod
from trainers.merge.params import SEED_HELP, Density, MethodParams, density_field
from trainers.spec import SpecError

if TYPE_CHECKING:
    from trainers.merge.engine import MergeJob
    from trainers.merge.inputs import ModelDir

Combination = Literal[
    "cat",
    "svd",
    "linear",
    "ties",
    "ties_svd",
    "dare_linear",
    "dare_ties",
    "dare_linear_svd",
    "dare_ties_svd",
    "magnitude_prune",
    "magnitude_prune_svd",
]
SAME_RANK = {"linear", "ties", "dare_linear", "dare_ties", "magnitude_prune"}
USES_DENSITY = ("ties", "dare", "magnitude_prune")
COMBINED = "default"  # peft saves the adapter named "default" at the top of the output directory


class AdapterCombineParams(MethodParams):
    combination: Combination = Field(
        "cat",
        description="peft's combination_type: cat is exact (rank adds up), svd near-exact at a set rank, "
        "linear a rough average of A and B; ties/dare/magnitude_prune prune first.",
    )
    svd_rank: int | None = Field(
        None,
        ge=1,
        le=4096,
        description="Rank of the combined adapter for svd types (default: the largest input rank).",
    )
    density: Density = density_field(
        1.0, "For ties, dare and magnitude_prune types: share of weights to keep."
    )
    majority_sign_method: Literal["total", "frequency"] = Field(
        "total", description="For ties types: elect signs by total magnitude or by count."
    )
    seed: int = Field(0, ge=0, le=2**63 - 1, description=SEED_HELP)

    @model_validator(mode="after")
    def _density_only_where_used(self) -> AdapterCombineParams:
        if self.density != 1.0 and not self.combination.startswith(USES_DENSITY):
            raise ValueError(
                f"density has no effect with combination {self.combination!r}; leave it out or use ties"
            )
        if self.svd_rank is not None and not self.combination.endswith("svd"):
            raise ValueError(f"svd_rank applies only to svd combinations, not {self.combination!r}")
        return self


def check_adapters(job: MergeJob) -> None:
    """Preflight: what peft would refuse halfway, refused before anything is loaded."""
    combination = job.params.combination
    for adapter in job.adapters.values():
        if adapter.replacements or adapter.uses_dora:
            raise SpecError(
                f"{adapter.label} saves whole layers or uses DoRA, which peft cannot combine; "
                "fold each adapter with lora_fold and merge the models with linear or ties instead"
            )
    ranks = [_rank(adapter.dir.config) for adapter in job.adapters.values()]
    if combination in SAME_RANK and len(set(ranks)) > 1:
        raise SpecError(
            f"params.combination: {combination} needs adapters of one rank, these have r = "
            f"{', '.join(map(str, ranks))}; use cat or svd"
        )


def _rank(config: dict) -> int:
    return max([config.get("r", 8), *(config.get("rank_pattern") or {}).values()])


def skeleton(base: ModelDir) -> Any:
    """The base model's modules with one-element stand-ins for every weight."""
    import torch
    import transformers

    config = transformers.AutoConfig.from_pretrained(base.path)
    architecture = (config.architectures or ["AutoModelForCausalLM"])[0]
    model_class = getattr(transformers, architecture, None)
    if model_class is None:
        raise SpecError(f"{base.label}: transformers has no model class {architecture}")
    with torch.device("meta"):
        model = model_class(config)
    for module in model.modules():
        for name, param in list(module._parameters.items()):
            if param is not None:
                stand_in = torch.zeros((), dtype=param.dtype).expand(param.shape)
                module._parameters[name] = torch.nn.Parameter(stand_in, requires_grad=False)
        for name, buffer in list(module._buffers.items()):
            if buffer is not None and buffer.is_meta:
                module._buffers[name] = torch.zeros((), dtype=buffer.dtype).expand(buffer.shape)
    return model


def run_adapter_combine(job: MergeJob) -> None:
    import torch
    from peft import PeftModel

    assert job.base is not None
    names = [f"input_{i}" for i in range(len(job.models))]
    model = PeftModel.from_pretrained(skeleton(job.base), str(job.models[0].path), adapter_name=names[0])
    for name, item in zip(names[1:], job.models[1:], strict=True):
        model.load_adapter(str(item.path), adapter_name=name)
    p = job.params
    torch.manual_seed(p.seed)  # the dare types drop at random
    model.add_weighted_adapter(
        names,
        job.weights,
        COMBINED,
        combination_type=p.combination,
        svd_rank=p.svd_rank,
        density=p.density if p.combination.startswith(USES_DENSITY) else None,
        majority_sign_method=p.majority_sign_method,
    )
    job.out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(job.out_dir, selected_adapters=[COMBINED], save_embedding_layers=False)
    for path in job.out_dir.iterdir():
        if path.is_file():
            path.chmod(0o644)  # safetensors writes 0600; the web and worker pods may run as other users
    job.progress.advance("adapter_model.safetensors")


METHOD = MergeMethod(
    name="adapter_combine",
    title="Combine LoRA adapters",
    help="Combines LoRA adapters of one base into a single adapter (peft's weighted-adapter combinations).",
    paper="https://huggingface.co/docs/peft/main/en/package_reference/lora#peft.LoraModel.add_weighted_adapter",
    params=AdapterCombineParams,
    min_models=2,
    needs_base=True,
    weights="signed",
    inputs="adapters",
    output="adapter",
    run=run_adapter_combine,
    preflight=check_adapters,
)
