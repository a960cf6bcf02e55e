"""Each sweep's Optuna study, stored in Hone's own database through Optuna's RDB storage.

The study is the sampler's memory: trials, their parameters, intermediate and final values. It
lives in the same PostgreSQL database as Hone's records (SQLite file in the embedded mode), in
Optuna's own tables, so any worker can pick a sweep up where another left it. Samplers and pruners
are rebuilt on every pass from the sweep's settings: they keep no state outside the storage.
"""

from __future__ import annotations

import functools

import optuna
from django.db import connection
from sqlalchemy.engine import URL

from jobs.models import Job
from trainers.spec_sweep import Budget

optuna.logging.set_verbosity(optuna.logging.WARNING)  # a pass per sweep every few seconds: no chatter


def storage_url() -> str:
    """Hone's database as SQLAlchemy names it (the test database in tests: Django's live settings)."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return URL.create(
        "postgresql+psycopg",
        username=db.get("USER") or None,
        password=db.get("PASSWORD") or None,
        host=db.get("HOST") or None,
        port=int(db["PORT"]) if db.get("PORT") else None,
        database=db["NAME"],
    ).render_as_string(hide_password=False)


_OPENED: set[str] = set()


@functools.cache
def _storage(url: str) -> optuna.storages.RDBStorage:
    # One engine per process and database; pre-ping: a worker outlives database restarts.
    _OPENED.add(url)
    return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})


def storage() -> optuna.storages.RDBStorage:
    return _storage(storage_url())


def close() -> None:
    """Close this process's connections to the studies' database (tests drop it afterwards)."""
    for url in list(_OPENED):
        _storage(url).engine.dispose()
    _storage.cache_clear()
    _OPENED.clear()


def study_name(sweep: Job) -> str:
    # The id alone could repeat after a database is recreated; the creation time makes it the sweep's own.
    return f"hone-sweep-{sweep.pk}-{sweep.created_at:%Y%m%d%H%M%S%f}"


def load(sweep: Job) -> optuna.Study:
    """The sweep's study, created on its first pass, with a sampler seeded for this pass."""
    search = sweep.params
    name = study_name(sweep)
    optuna.create_study(
        study_name=name, storage=storage(), direction=search.get("direction", "minimize"), load_if_exists=True
    )
    done = len(storage().get_all_trials(storage().get_study_id_from_name(name), deepcopy=False))
    return optuna.load_study(
        study_name=name, storage=storage(), sampler=sampler(search, done), pruner=pruner(search)
    )


def sampler(search: dict, trials_so_far: int) -> optuna.samplers.BaseSampler:
    """The sweep's sampler; its seed moves on with each trial, so a pass rebuilt from storage draws a
    new point rather than the previous pass's again."""
    seed = int(search.get("seed", 0)) + trials_so_far
    kind = search.get("sampler", "tpe")
    if kind == "grid":
        from trainers.sweep_space import grid

        return optuna.samplers.GridSampler(grid(search["space"]), seed=seed)
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    trials = Budget.model_validate(search.get("budget") or {}).trials
    # A third of the budget at random before TPE models the rest (Optuna's default of 10 would
    # leave a 12-trial sweep almost unguided).
    return optuna.samplers.TPESampler(
        seed=seed, n_startup_trials=max(2, min(10, trials // 3)), constant_liar=True
    )


def pruner(search: dict) -> optuna.pruners.BasePruner:
    """Pruners compare trials at the same resource: the n-th evaluation of each run (``evals_per_run``
    is the same for every trial), not its step, which differs with batch size and epochs."""
    kind = search.get("pruner", "median")
    evals = int(search.get("trial", {}).get("training", {}).get("evals_per_run", 5))
    if kind == "median":
        # Steps are evaluations counted from 1; Optuna never prunes at a step below n_warmup_steps.
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=warmup_evals(search) + 1)
    if kind == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    if kind == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(evals, 2), reduction_factor=3)
    return optuna.pruners.NopPruner()


def warmup_evals(search: dict) -> int:
    """The evaluations of each trial the median pruner never stops at: the sweep's ``warmup_evals``,
    else half of the evaluations a run makes. An early loser often wins by the end: from the first
    of 4 evaluations the pruner stopped the eventual winner (docs/benchmarks.md, the sweep section)."""
    asked = search.get("warmup_evals")
    if asked is not None:
        return int(asked)
    return int(search.get("trial", {}).get("training", {}).get("evals_per_run", 5)) // 2


def grid_size(search: dict) -> int | None:
    if search.get("sampler") != "grid":
        return None
    size = 1
    for raw in search["space"].values():
        size *= len(raw["choices"])
    return size
