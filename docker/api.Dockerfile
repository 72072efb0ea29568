# syntax=docker/dockerfile:1
#
# The API image: Flask under gunicorn. No torch, MONAI or open3d: the API enqueues jobs by actor
# name and never imports gpu_worker/, so this image stays around 200 MB.
#
# Build from the repository root (compose.gpu.yml does this):
#   docker build -f docker/api.Dockerfile -t mrimesh/api .

FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app

# One unprivileged user, with the same uid/gid in every mrimesh image: the API writes uploads to the
# shared data volume, the worker writes results beside them and the janitor deletes both.
ARG APP_UID=10001
RUN groupadd --system --gid "${APP_UID}" mrimesh \
 && useradd --system --uid "${APP_UID}" --gid mrimesh --create-home --home-dir /home/mrimesh \
        --shell /usr/sbin/nologin mrimesh \
 && install -d -o mrimesh -g mrimesh /data

# Dependencies first, in their own layer, so a code change does not reinstall them.
COPY requirements/api.txt /tmp/requirements/api.txt
RUN python -m venv "${VIRTUAL_ENV}" \
 && pip install -r /tmp/requirements/api.txt \
 && pip check

# Code is owned by root and read-only to the app user; only /data and $HOME are writable.
WORKDIR /app
COPY mrimesh/ mrimesh/
COPY api/ api/
COPY web/ web/
COPY docker/healthcheck.py docker/healthcheck.py

USER mrimesh
# Inside a container the API must listen on all interfaces (the default, 127.0.0.1, is for local
# runs). MRIMESH_PROXY_HOPS stays 0 here: compose sets it to 1 because it puts nginx in front.
ENV MRIMESH_DATA_DIR=/data \
    MRIMESH_BIND_HOST=0.0.0.0 \
    MRIMESH_PORT=8000
EXPOSE 8000

# Python, not curl: the slim image has no curl. Exits non-zero unless GET /healthz answers 200,
# and /healthz answers 503 while Redis does not, so "healthy" means "can take jobs".
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "/app/docker/healthcheck.py", "http"]

# Binds to ${MRIMESH_BIND_HOST}:${MRIMESH_PORT} (api/gunicorn_conf.py); 2 processes x 8 threads by
# default (MRIMESH_API_WORKERS).
CMD ["gunicorn", "--config", "api/gunicorn_conf.py", "api.wsgi:app"]
