"""Sweeps: a parent job whose trials are ordinary training jobs, searched with Optuna.

``study.py`` keeps each sweep's Optuna study in Hone's own database (PostgreSQL, or the embedded
SQLite file), so a sweep outlives any worker; ``driver.py`` is the reconciler's idempotent pass over
a sweep (ask for trials, launch them through ``jobs.launch``, report their eval metrics, prune
losing ones through the normal cancel path, finish the sweep); ``results.py`` reads a sweep back
for its page and the API (trials, best, importance, the comparison with the preset).
"""
