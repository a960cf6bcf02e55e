"""The quantize job: check, measure before, quantize, write each output, measure after, report.

Reads top to bottom in ``run_quantize``. Every refusal (SpecError, DataError) happens before the
first model is loaded. Outputs go under ``output_dir``: ``torchao/`` (model directory),
``model-Q8_0.gguf``, ``model-Q4_0.gguf``, ``model-Q4_K_M.gguf`` (and Q5_K_M, Q6_K), and
``report.json``. For a k-quant output the importance matrix is measured on the full-precision model
right after the "before" measurement (trainers/quantize/imatrix.py).

Events (split "eval"; step 0 is the original model, step 1 the quantized one): ``perplexity``
(step 1 on the primary output: torchao when asked for, else the first GGUF) and
``perplexity_<output>`` per output; ``size_bytes`` and ``size_bytes_<output>``; ``compression_ratio``;
``quantize_seconds`` (the method's own computation), ``seconds_<output>`` (writing each output,
RTN's streaming quantization included); ``peak_rss_bytes`` (quantize and export phase). ``sample``
events carry greedy generations with model "before" / "after". Artifacts: "torchao"
(artifact_kind "model"), "gguf_q8_0" / "gguf_q4_0" / "gguf_q4_k_m" / ... (artifact_kind "gguf"),
"report" ("report").
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers.utils import logging as hf_logging

from trainers.evaluation.data import LM_TASKS, TextSet, check_dataset, lm_texts
from trainers.evaluation.generate import generate
from trainers.evaluation.metrics import score_texts
from trainers.evaluation.models import load_causal_lm, quiet_import_torchao
from trainers.evaluation.report import emit_artifact, path_size, write_report
from trainers.events import EventEmitter
from trainers.quantize.calibration import Calibration, build_calibration, check_calibration
from trainers.quantize.checkpoint import Checkpoint
from trainers.quantize.checks import check_model
from trainers.quantize.gguf_export import write_gguf
from trainers.quantize.gptq import GptqResult
from trainers.quantize.imatrix import collect_imatrix
from trainers.quantize.measure import Phase, peak_rss_bytes
from trainers.quantize.rtn import QuantizedWeight
from trainers.quantize.torchao_export import torchao_config, write_torchao
from trainers.spec_quantize import QuantizeSpec

log = logging.getLogger("trainers")

GGUF_FILES = {
    f"gguf_{file_type.lower()}": (file_type, f"model-{file_type}.gguf")
    for file_type in ("Q8_0", "Q4_0", "Q4_K_M", "Q5_K_M", "Q6_K")
}


@dataclass
class Measured:
    perplexity: float
    tokens: int
    generations: list[str]


@dataclass
class Job:
    """What the phases of one quantize job share."""

    spec: QuantizeSpec
    emitter: EventEmitter
    checkpoint: Checkpoint
    targets: dict[str, tuple[int, int]]
    texts: TextSet
    calibration: Calibration | None
    out_dir: Path
    imatrix_windows: Calibration | None = None
    imatrix: dict[str, np.ndarray] | None = None
    gptq: GptqResult | None = None
    quantize_seconds: float = 0.0
    outputs: dict[str, dict] = field(default_factory=dict)
    stage: int = 0

    @property
    def stages(self) -> int:  # evaluate before, quantize, each output written, each output evaluated
        return 2 + 2 * len(self.spec.outputs)

    def advance(self) -> None:
        self.stage += 1
        self.emitter.progress(
            step=self.stage, total=self.stages, epoch=0.0, eta_seconds=None, samples_per_second=None
        )


def run_quantize(spec: QuantizeSpec, emitter: EventEmitter) -> None:
    hf_logging.disable_progress_bar()
    job = prepare(spec, emitter)
    emitter.started(
        total_steps=job.stages,
        epochs=0,
        trainable_params=0,
        total_params=job.checkpoint.parameter_count,
        device=_device(),
        model=spec.model.name,
    )

    model, tokenizer = load_causal_lm(job.checkpoint.dir)
    before = measure(job, model, tokenizer)
    emit_before(job, before)
    if job.imatrix_windows is not None:  # on the full-precision model, before GPTQ changes it
        job.imatrix = collect_imatrix(model, job.imatrix_windows.windows)
    job.advance()

    if spec.quantize_method.quantize_model is None:
        model = None  # a tensor-wise method streams from the files: free the model before measuring the peak
        gc.collect()
    phase = Phase.start()
    quantize(job, model)
    model = None
    gc.collect()
    job.advance()
    write_outputs(job)
    peak, scoped = peak_rss_bytes(), phase.scoped
    emitter.metric("peak_rss_bytes", step=1, value=peak, split="eval")

    after = evaluate_outputs(job)
    report = build_report(job, before, after, peak, scoped)
    path = write_report(job.out_dir / "report.json", "quantize", report)
    for name, info in job.outputs.items():
        emit_artifact(emitter, name, info["artifact_kind"], Path(info["path"]))
    emit_artifact(emitter, "report", "report", path)
    emitter.finished("succeeded")


def prepare(spec: QuantizeSpec, emitter: EventEmitter) -> Job:
    """All checks and all data, before any model is loaded."""
    from transformers import AutoTokenizer

    quiet_import_torchao()
    checkpoint, targets = check_model(spec)
    check_calibration(spec.calibration)
    if spec.eval_texts is not None:
        check_dataset(spec.eval_texts, "eval_texts", LM_TASKS)
    tokenizer = AutoTokenizer.from_pretrained(checkpoint.dir)
    texts = lm_texts(tokenizer, spec.eval_texts, spec.max_eval_texts)
    calibration = None
    if spec.quantize_method.calibrated:
        p = spec.method_params()
        calibration = build_calibration(
            tokenizer, spec.calibration, p.calibration_samples, p.calibration_seq_len, p.seed
        )
    imatrix_windows = None
    if spec.uses_imatrix:
        i = spec.imatrix
        imatrix_windows = build_calibration(
            tokenizer, spec.calibration, i.calibration_samples, i.calibration_seq_len, i.seed, "imatrix"
        )
    out_dir = Path(spec.output_dir).resolve()
    return Job(spec, emitter, checkpoint, targets, texts, calibration, out_dir, imatrix_windows)


def measure(job: Job, model: Any, tokenizer: Any, *, with_generations: bool = True) -> Measured:
    spec = job.spec
    total = score_texts(
        model,
        tokenizer,
        job.texts.texts,
        max_length=spec.eval_max_length,
        stride=spec.eval_max_length // 2,
        add_special_tokens=job.texts.add_special_tokens,
    )
    generations = generate(model, tokenizer, spec.prompts, spec.max_new_tokens) if with_generations else []
    return Measured(total.perplexity, total.tokens, generations)


def emit_before(job: Job, before: Measured) -> None:
    job.emitter.metric("perplexity", step=0, value=before.perplexity, split="eval")
    job.emitter.metric("size_bytes", step=0, value=job.checkpoint.size_bytes, split="eval")
    for prompt, output in zip(job.spec.prompts, before.generations, strict=False):
        job.emitter.emit("sample", step=0, prompt=prompt, output=output, expected=None, model="before")


def quantize(job: Job, model: Any | None) -> None:
    """A whole-model method (GPTQ) runs here on the loaded model; a tensor-wise one (round-to-nearest)
    runs later, tensor by tensor, while the outputs are written."""
    method, p = job.spec.quantize_method, job.spec.method_params()
    if method.quantize_model is None:
        return
    phase = Phase()
    log.info(
        f"{method.title} on {len(job.calibration.windows)} windows of {p.calibration_seq_len} tokens "
        f"({job.calibration.source})"
    )
    extra = {"outputs": list(job.spec.outputs)} if method.wants_outputs else {}
    job.gptq = method.quantize_model(
        model,
        job.calibration.windows,
        p,
        lambda done, total: log.info(f"{method.name}: layer {done} of {total} quantized"),
        **extra,
    )
    job.quantize_seconds = phase.seconds


def weight_quantizer(job: Job) -> Callable[[str, torch.Tensor], QuantizedWeight | None]:
    """Integers for a checkpoint tensor: a whole-model method's result, or the tensor-wise method's
    computed now (timed)."""
    if job.gptq is not None:
        return lambda name, tensor: job.gptq.weights.get(name)
    quantize_tensor, params = job.spec.quantize_method.quantize_tensor, job.spec.method_params()

    def tensor_wise(name: str, tensor: torch.Tensor) -> QuantizedWeight | None:
        if name not in job.targets:
            return None
        phase = Phase()
        result = quantize_tensor(tensor, params)
        job.quantize_seconds += phase.seconds
        return result

    return tensor_wise


def write_outputs(job: Job) -> None:
    for output in job.spec.outputs:
        phase = Phase()
        if output == "torchao":
            path, kind = write_torchao_output(job), "model"
        elif output == "compressed_tensors":
            from trainers.quantize.compressed_tensors_export import write_compressed_tensors

            path = write_compressed_tensors(job.checkpoint, job.out_dir / "compressed-tensors", job.gptq)
            kind = "model"
        else:
            file_type, filename = GGUF_FILES[output]
            overrides: dict = {}
            tensor_types = getattr(job.gptq, "gguf_types", None)  # mixed precision's own plan
            if job.gptq is not None and file_type == "Q4_0" and not tensor_types:
                overrides = {**job.gptq.weights, **job.gptq.biases}
            path = write_gguf(
                job.checkpoint,
                job.out_dir / filename,
                file_type,
                job.spec.model.name,
                overrides,
                imatrix=job.imatrix,
                tensor_types=tensor_types,
            )
            kind = "gguf"
        job.outputs[output] = {
            "path": str(path),
            "artifact_kind": kind,
            "size_bytes": path_size(path),
            "seconds": round(phase.seconds, 3),
        }
        job.emitter.metric(f"seconds_{output}", step=1, value=phase.seconds, split="eval")
        job.emitter.metric(f"size_bytes_{output}", step=1, value=path_size(path), split="eval")
        log.info(f"Wrote {output}: {path}")
        job.advance()
    job.emitter.metric("quantize_seconds", step=1, value=job.quantize_seconds, split="eval")


def write_torchao_output(job: Job) -> Path:
    spec = job.spec
    params = spec.method_params()  # None: per-channel int8, which has no groups
    group_size, symmetric = (params.group_size, params.symmetric) if params else (0, True)
    own_config = getattr(job.gptq, "torchao_config", None)  # mixed precision: a width per module
    config = own_config() if own_config else torchao_config(spec.quantize_method.bits, group_size, symmetric)
    biases = job.gptq.biases if job.gptq is not None else {}
    return write_torchao(
        job.checkpoint, job.out_dir / "torchao", weight_quantizer(job), biases, config, model_card(spec)
    )


def evaluate_outputs(job: Job) -> dict[str, Measured]:
    """Load each output back as a user would (torchao through transformers' quantizer, GGUF through
    transformers' GGUF reader) and measure it; the primary output also generates."""
    results: dict[str, Measured] = {}
    primary = primary_output(job.spec.outputs)
    for output in job.spec.outputs:
        path = Path(job.outputs[output]["path"])
        model, tokenizer = (
            load_causal_lm(path) if path.is_dir() else load_causal_lm(path.parent, gguf_file=path.name)
        )
        results[output] = measure(job, model, tokenizer, with_generations=output == primary)
        job.outputs[output]["perplexity"] = results[output].perplexity
        job.emitter.metric(f"perplexity_{output}", step=1, value=results[output].perplexity, split="eval")
        del model
        gc.collect()
        job.advance()
    emit_after(job, results[primary], job.outputs[primary]["size_bytes"])
    return results


def primary_output(outputs: list[str]) -> str:
    return "torchao" if "torchao" in outputs else outputs[0]


def emit_after(job: Job, after: Measured, size: int) -> None:
    job.emitter.metric("perplexity", step=1, value=after.perplexity, split="eval")
    job.emitter.metric("size_bytes", step=1, value=size, split="eval")
    job.emitter.metric("compression_ratio", step=1, value=job.checkpoint.size_bytes / size, split="eval")
    for prompt, output in zip(job.spec.prompts, after.generations, strict=False):
        job.emitter.emit("sample", step=1, prompt=prompt, output=output, expected=None, model="after")


def build_report(job: Job, before: Measured, after: dict[str, Measured], peak: int, scoped: bool) -> dict:
    spec, primary = job.spec, primary_output(job.spec.outputs)
    return {
        "job_id": spec.job_id,
        "attempt": spec.attempt,
        "model": spec.model.model_dump(),
        "method": spec.method,
        "params": spec.params,
        "calibration": calibration_summary(job.calibration),
        "imatrix": calibration_summary(job.imatrix_windows),
        "eval": {
            "source": job.texts.source,
            "texts": len(job.texts.texts),
            "tokens": before.tokens,
            "max_length": spec.eval_max_length,
            "stride": spec.eval_max_length // 2,
        },
        "before": {
            "perplexity": before.perplexity,
            "size_bytes": job.checkpoint.size_bytes,
            "parameters": job.checkpoint.parameter_count,
        },
        "after": {
            "output": primary,
            "perplexity": after[primary].perplexity,
            "size_bytes": job.outputs[primary]["size_bytes"],
        },
        "outputs": job.outputs,
        "quantize": {
            "seconds": job.quantize_seconds,
            "quantized_tensors": len(job.targets),
            "peak_rss_bytes": peak,
            "peak_rss_scope": "quantize and export" if scoped else "whole job",
            "gptq_loss": job.gptq.losses if job.gptq else None,
            "plan": getattr(job.gptq, "summary", None),  # mixed precision: widths, sensitivities
        },
        "samples": [
            {"prompt": p, "before": b, "after": a}
            for p, b, a in zip(spec.prompts, before.generations, after[primary].generations, strict=False)
        ],
    }


def calibration_summary(calibration: Calibration | None) -> dict | None:
    if calibration is None:
        return None
    return {
        "source": calibration.source,
        "windows": len(calibration.windows),
        "seq_len": int(calibration.windows[0].shape[1]),
        "tokens": calibration.tokens,
    }


def model_card(spec: QuantizeSpec) -> str:
    params = "".join(f"- {name}: {value}\n" for name, value in spec.params.items()) or "- none\n"
    return (
        f"# {spec.model.name}, quantized ({spec.method})\n\nQuantized with Hone from `{spec.model.path}`, "
        f"job {spec.job_id}, attempt {spec.attempt}.\n\n## Parameters\n\n{params}\n"
        "Load with `transformers.AutoModelForCausalLM.from_pretrained(this_directory)` (needs `torchao`); "
        "the weights stay quantized in memory.\n"
    )


def _device() -> str:
    return f"cuda ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "cpu"
