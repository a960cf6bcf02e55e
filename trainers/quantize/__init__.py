"""Quantization: round-to-nearest and GPTQ weights, written as torchao checkpoints and GGUF files.

One module per concern: ``rtn`` and ``gptq`` compute integers and scales, ``torchao_export`` and
``gguf_export`` write them, ``checks`` refuses bad input before work, ``run`` is the job.
"""
