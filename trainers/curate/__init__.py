"""Curate jobs: duplicates, quality, label problems and diversity, each row with its reason.

``run.run_curate`` is the job; the steps are plain functions over rows (no Django), so the
platform's preview (``jobs/web/curate_views.py``) runs the cheap ones on a sample with the same code.
"""
