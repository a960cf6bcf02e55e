"""The model registry: what a model directory holds, and lineage (inputs → job → outputs)."""
