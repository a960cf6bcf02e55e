"""Hone settings. Everything comes from environment variables (see README, Configuration).

With nothing set, Hone runs embedded: SQLite under ``var/``, a Celery transport that needs
no server, trainer subprocesses on this machine and storage under ``var/storage/``.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

from hone.env import (
    SettingError,
    envbool,
    envchoice,
    envint,
    envlist,
    envsecret,
    envstr,
    generated_secret,
)
from hone.security import DEFAULT_POLICY as DEFAULT_CSP

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(envstr("HONE_VAR", str(BASE_DIR / "var"))).resolve()

DEBUG = envbool("DEBUG", False)
SECRET_KEY = envsecret("SECRET_KEY") or generated_secret(VAR_DIR / "secret_key")
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "jobs",
    "api",
    "console",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "hone.security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "hone.urls"
WSGI_APPLICATION = "hone.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "jobs.teams.context.current_team",
            ],
        },
    },
]

# --- database: SQLite (WAL) under var/ unless DATABASE_URL names PostgreSQL
_database_url = envstr("DATABASE_URL")
if _database_url:
    DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=60, conn_health_checks=True)}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "hone.sqlite3",
            "OPTIONS": {
                # WAL lets the web server read while the worker writes; IMMEDIATE avoids
                # lock upgrades failing mid-transaction under concurrent writers.
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;"
                ),
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "jobs:job_list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = envstr("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Celery: a broker that needs no server unless CELERY_BROKER_URL names Redis
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = envstr("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem"):
    BROKER_DIR.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT = "hone.broker:Transport"  # atomic message files (see hone/broker.py)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR),
        "data_folder_out": str(BROKER_DIR),
        "store_processed": False,
        "control_folder": str(BROKER_DIR / "control"),
        "polling_interval": 0.1,  # the folder is polled: keep dispatch latency low
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_ALWAYS_EAGER = envbool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Hone
HONE_STORAGE = Path(envstr("HONE_STORAGE", str(VAR_DIR / "storage"))).resolve()
# Where `make run` prepares the demo model (SmolLM2, converted once from its GGUF file).
HONE_DEMO_MODEL_DIR = Path(envstr("HONE_DEMO_MODEL_DIR", str(VAR_DIR / "models" / "smollm2-135m-instruct")))
HONE_EXECUTOR = envchoice("HONE_EXECUTOR", "local", ("local", "kubernetes"))
HONE_LOCAL_SLOTS = envint("HONE_LOCAL_SLOTS", 1, minimum=1)
HONE_RECONCILE_SECONDS = envint("HONE_RECONCILE_SECONDS", 3, minimum=1)
HONE_MAX_UPLOAD_BYTES = envint("HONE_MAX_UPLOAD_MB", 200, minimum=1) * 1024 * 1024
# What one uploaded dataset may unpack to while it is checked (trainers/formats.py, ReadLimits);
# over a limit the file is refused with the limit named. Parquet pages are compressed: a few KB
# can hold hundreds of MB, so these, not the upload size, bound a web worker's memory.
HONE_MAX_ROW_MB = envint("HONE_MAX_ROW_MB", 16, minimum=1)  # one JSON line, CSV record or Parquet row
HONE_MAX_CELL_MB = envint("HONE_MAX_CELL_MB", 8, minimum=1)  # one field's value
# Weights the web process keeps loaded to serve the playground and /openai/v1/ completions (LRU).
HONE_SERVE_CACHE_MB = envint("HONE_SERVE_CACHE_MB", 4096, minimum=1)
HONE_MAX_DECODED_MB = envint("HONE_MAX_DECODED_MB", 1024, minimum=1)  # all of a file's rows, decoded
HONE_MAX_JSON_MB = envint("HONE_MAX_JSON_MB", 64, minimum=1)  # a .json array is parsed whole
HONE_MAX_ATTEMPTS = envint("HONE_MAX_ATTEMPTS", 3, minimum=1)
# Where trainers POST their events; empty means events are read from the trainer's stdout.
HONE_INGEST_URL = envstr("HONE_INGEST_URL")
HONE_TRAINER_PYTHON = envstr("HONE_TRAINER_PYTHON")
HONE_CANCEL_GRACE_SECONDS = envint("HONE_CANCEL_GRACE_SECONDS", 20, minimum=0)
# The compute profile of jobs that name none.
HONE_DEFAULT_PROFILE = envstr("HONE_DEFAULT_PROFILE", "local")

# --- Kubernetes executor (HONE_EXECUTOR=kubernetes; see docs/deploy-kubernetes.md)
HONE_K8S_NAMESPACE = envstr("HONE_K8S_NAMESPACE", "hone")
HONE_K8S_IMAGE = envstr("HONE_K8S_IMAGE")
# The image `manage.py serving_manifest` puts in vLLM serving Deployments (jobs/executors/k8s_serving.py).
HONE_VLLM_IMAGE = envstr("HONE_VLLM_IMAGE", "vllm/vllm-openai:v0.11.0")
if HONE_EXECUTOR == "kubernetes" and not HONE_K8S_IMAGE:
    raise SettingError("HONE_EXECUTOR=kubernetes needs HONE_K8S_IMAGE, the image trainer pods run")
# In a pod: the service account's credentials; elsewhere a kubeconfig (empty: $KUBECONFIG or ~/.kube/config).
HONE_K8S_IN_CLUSTER = envbool("HONE_K8S_IN_CLUSTER", "KUBERNETES_SERVICE_HOST" in os.environ)
HONE_K8S_KUBECONFIG = envstr("HONE_K8S_KUBECONFIG")
HONE_K8S_CONTEXT = envstr("HONE_K8S_CONTEXT")
HONE_K8S_STORAGE_CLAIM = envstr("HONE_K8S_STORAGE_CLAIM", "hone-storage")
HONE_K8S_SERVICE_ACCOUNT = envstr("HONE_K8S_SERVICE_ACCOUNT")
HONE_K8S_IMAGE_PULL_SECRET = envstr("HONE_K8S_IMAGE_PULL_SECRET")
# A Secret whose keys every trainer gets as environment variables (e.g. HF_TOKEN); optional.
HONE_K8S_TRAINER_SECRET = envstr("HONE_K8S_TRAINER_SECRET")
# Kueue LocalQueue name; empty: no Kueue, Jobs start at once.
HONE_K8S_KUEUE_QUEUE = envstr("HONE_K8S_KUEUE_QUEUE")
HONE_K8S_RUN_AS_USER = envint("HONE_K8S_RUN_AS_USER", 10001, minimum=1)
# Time a trainer gets after SIGTERM (eviction, preemption, cancel) to write a checkpoint.
HONE_K8S_GRACE_SECONDS = envint("HONE_K8S_GRACE_SECONDS", 300, minimum=30)
# Finished Jobs stay this long, so the reconciler sees how they ended and keeps their logs.
HONE_K8S_TTL_SECONDS = envint("HONE_K8S_TTL_SECONDS", 3600, minimum=300)
HONE_K8S_API_TIMEOUT_SECONDS = envint("HONE_K8S_API_TIMEOUT_SECONDS", 10, minimum=1)
# Most attempts Hone keeps in the cluster at once; the cluster (or Kueue) queues beyond capacity.
HONE_K8S_MAX_LIVE_ATTEMPTS = envint("HONE_K8S_MAX_LIVE_ATTEMPTS", 50, minimum=1)

# --- API (README, API): tokens, rate limits, idempotency keys, model registration, webhooks
HONE_API_RATE = envstr("HONE_API_RATE", "600/min")  # per token (or signed-in user): <count>/<s|min|hour|day>
HONE_IDEMPOTENCY_HOURS = envint("HONE_IDEMPOTENCY_HOURS", 24, minimum=1)
# Directories under which models may be registered by path. Empty: in production (DATABASE_URL
# set) registering by path is off; embedded, anywhere outside HONE_STORAGE, /proc, /sys and /dev.
HONE_MODEL_DIRS = envlist("HONE_MODEL_DIRS")
HONE_MODEL_DIRS_REQUIRED = envbool("HONE_MODEL_DIRS_REQUIRED", bool(_database_url))
# Directories of lm-evaluation-harness task files (YAML, with their data as local files) that evaluate
# jobs may name in params.harness.tasks; the operator installs them (or points at a package's).
HONE_HARNESS_TASK_DIRS = envlist("HONE_HARNESS_TASK_DIRS")
# An OpenAI-compatible chat completions endpoint that evaluate jobs may use as their judge
# (params.judge.use_endpoint): its base URL (".../v1") and model name. Its API key is a secret: read
# from HONE_JUDGE_API_KEY or the file HONE_JUDGE_API_KEY_FILE names, handed to that job's trainer in
# its environment only (jobs/lifecycle/services.py), never in a spec, a log or the database.
HONE_JUDGE_BASE_URL = envstr("HONE_JUDGE_BASE_URL")
HONE_JUDGE_MODEL = envstr("HONE_JUDGE_MODEL")
HONE_JUDGE_API_KEY = envsecret("HONE_JUDGE_API_KEY")
# Webhooks go to public addresses only, unless this allows private, loopback and link-local ones.
HONE_WEBHOOK_ALLOW_PRIVATE = envbool("HONE_WEBHOOK_ALLOW_PRIVATE", False)
HONE_WEBHOOK_MAX_ATTEMPTS = envint("HONE_WEBHOOK_MAX_ATTEMPTS", 10, minimum=1)
HONE_WEBHOOK_RETRY_SECONDS = envint("HONE_WEBHOOK_RETRY_SECONDS", 30, minimum=1)  # doubles per failure
HONE_WEBHOOK_TIMEOUT_SECONDS = envint("HONE_WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1)
HONE_WEBHOOK_SWEEP_SECONDS = envint("HONE_WEBHOOK_SWEEP_SECONDS", 30, minimum=1)
# Rate-limit counters: Redis when given (every web process shares it), else files under var/.
_cache_url = envstr("CACHE_URL", CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else "")
if _cache_url.startswith(("redis://", "rediss://")):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _cache_url}}
elif not _cache_url:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": VAR_DIR / "cache",
        }
    }
else:
    raise SettingError(f"CACHE_URL={_cache_url!r} is not a redis:// URL")

FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = None

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Hone API",
    "VERSION": "1",
    "DESCRIPTION": "Datasets, models, jobs, metrics, logs and artifacts of one team. Authenticate with "
    "`Authorization: Bearer <token>` (made on the API tokens page, /settings/tokens/). "
    "Errors are application/problem+json.",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "JobStatusEnum": "jobs.models.Job.Status",
        "JobKindEnum": "jobs.models.Job.Kind",
        "ArtifactKindEnum": "jobs.models.Artifact.Kind",
        "AttemptStatusEnum": "jobs.models.Attempt.Status",
        "DeliveryStatusEnum": "api.models.WebhookDelivery.Status",
        "TokenStateEnum": ["active", "expired", "revoked"],
        "TrainMethodEnum": "api.serializers.jobs.TRAIN_METHODS",
    },
}

# --- security headers and HTTPS (docs/reliability.md, "Security")
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True  # pages carry the token in the markup; no script reads the cookie
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
HONE_CSP = envstr("HONE_CSP", DEFAULT_CSP)  # hone/security.py; empty: no Content-Security-Policy
# HONE_HTTPS=1: the site is served over HTTPS only. Cookies are marked Secure, plain HTTP is
# redirected (except the probes and trainers' event posts), and browsers are told to use HTTPS
# for a year (HSTS).
HONE_HTTPS = envbool("HONE_HTTPS", False)
if HONE_HTTPS or envbool("HONE_SECURE_COOKIES", False):
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
if HONE_HTTPS:
    SECURE_SSL_REDIRECT = envbool("HONE_SSL_REDIRECT", True)
    # Plain HTTP inside the cluster: kubelet probes, and trainer pods posting events to the web
    # Service (HONE_INGEST_URL, authenticated per attempt; a redirect would drop every event).
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^api/v1/attempts/\d+/\d+/events$"]
    SECURE_HSTS_SECONDS = envint("HONE_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("HONE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = envbool("HONE_HSTS_PRELOAD", False)
    if not SECURE_HSTS_PRELOAD:
        # Preloading is a promise about the whole domain that only its operator can make
        # (hstspreload.org); say so with HONE_HSTS_PRELOAD=1.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]
# Behind a proxy that terminates TLS (an ingress): the header it sets, e.g. X-Forwarded-Proto.
# Only set this when the proxy always sets or strips the header, or clients could forge it.
_proxy_header = envstr("HONE_PROXY_SSL_HEADER")
if _proxy_header:
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_header.upper().replace("-", "_"), "https")
# Failed sign-ins allowed per username and address, and per address, in each window (hone/login.py).
HONE_LOGIN_FAILURES = envint("HONE_LOGIN_FAILURES", 10, minimum=1)
HONE_LOGIN_FAILURES_PER_ADDRESS = envint("HONE_LOGIN_FAILURES_PER_ADDRESS", 50, minimum=1)
HONE_LOGIN_WINDOW_SECONDS = envint("HONE_LOGIN_WINDOW_SECONDS", 900, minimum=1)
HONE_CLIENT_IP_HEADER = envstr("HONE_CLIENT_IP_HEADER")  # behind a proxy: e.g. X-Forwarded-For
# Unknown API tokens accepted from one address per window before every token from it gets a 429.
HONE_TOKEN_FAILURES_PER_ADDRESS = envint("HONE_TOKEN_FAILURES_PER_ADDRESS", 50, minimum=1)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
