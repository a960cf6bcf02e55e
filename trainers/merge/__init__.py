"""Merge jobs: combine models or adapters into one, streaming tensors from and to safetensors.

registry.py lists the methods (one small file each); spec_merge.py (one level up) is the job spec;
run.py runs a job; compat.py refuses bad combinations before any work; stream.py reads and writes
safetensors a tensor at a time; engine.py is the tensor-wise loop.
"""
