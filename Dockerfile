# syntax=docker/dockerfile:1
# One image for Hone's web app, Celery worker and beat, and the trainer (docs/deploy-kubernetes.md).
#
#   docker build -t hone:dev .                                   # CPU (the default)
#   docker build --build-arg TORCH_VARIANT=cu128 -t hone:cuda .  # NVIDIA GPUs
#
# The CUDA build installs PyTorch's CUDA wheels, which carry the CUDA runtime and cuDNN; the
# node brings only the driver (NVIDIA GPU operator or device plugin). To start from an NVIDIA
# CUDA base image instead, pass BASE_IMAGE (it must provide Python 3.11 as `python3.11`).

ARG BASE_IMAGE=python:3.11.13-slim-bookworm
ARG TORCH_VARIANT=cpu

# --- build: a virtual environment with the pinned dependencies ---------------------------
FROM ${BASE_IMAGE} AS build
ARG TORCH_VARIANT
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3.11 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first (a layer that changes only with pyproject.toml); torch from its own index.
COPY pyproject.toml ./
RUN pip install "torch==2.13.0" --index-url "https://download.pytorch.org/whl/${TORCH_VARIANT}" \
 && python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml','rb'))['project']['dependencies']))" \
      > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt
# The sources (what .dockerignore leaves: packages, templates, static, manage.py), run from
# /app via PYTHONPATH rather than installed, so settings find templates and static files.
COPY . ./
RUN HONE_VAR=/var/lib/hone SECRET_KEY=build-only python manage.py collectstatic --noinput \
 && python -m compileall -q /src

# --- runtime: no compilers, no pip cache, not root -----------------------------------------
FROM ${BASE_IMAGE} AS runtime
ARG TORCH_VARIANT
LABEL org.opencontainers.image.title="hone" \
      org.opencontainers.image.description="Hone: fine-tune, merge, quantize and evaluate transformer models" \
      dev.hone.torch-variant="${TORCH_VARIANT}"
RUN groupadd --system --gid 10001 hone \
 && useradd --system --uid 10001 --gid hone --home-dir /home/hone --create-home --shell /usr/sbin/nologin hone \
 && mkdir -p /var/lib/hone /srv/hone/storage \
 && chown hone:hone /var/lib/hone /srv/hone/storage
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=hone:hone /var/lib/hone/static /var/lib/hone/static
COPY --from=build /src /app
COPY scripts/container-entrypoint /usr/local/bin/hone
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=hone.settings \
    HONE_VAR=/var/lib/hone \
    HONE_STORAGE=/srv/hone/storage \
    HF_HOME=/srv/hone/storage/cache/huggingface
WORKDIR /app
USER 10001:10001
EXPOSE 8000
ENTRYPOINT ["hone"]
CMD ["web"]
