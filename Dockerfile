# syntax=docker/dockerfile:1
# The monitor daemon in a container. Build and run (docs/deploy.md has the details):
#   docker build -t monitor .
#   docker run -d --name monitor -p 9464:9464 -v monitor-data:/var/lib/monitor \
#     -v ./checks.toml:/etc/monitor/checks.toml:ro -e STATUSPAGE_API_KEY monitor
#
# One base image for both stages, so the wheels built in the first are for the Python of the
# second. Bump the tag (or pin a digest, python:3.12.8-slim-bookworm@sha256:...) on purpose.
ARG PYTHON_IMAGE=python:3.12.8-slim-bookworm

# --- Stage 1: build the wheel of monitor and collect the wheels of its dependencies ---------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
# Only what the package is built from (pyproject.toml names README.md as its readme).
COPY pyproject.toml README.md ./
COPY monitor ./monitor
# Every dependency ships binary wheels for CPython 3.12 on linux/amd64 and arm64, so no compiler
# is needed here either; /wheels ends up with monitor-*.whl and all it depends on, asyncpg
# (cluster mode's driver, loaded only with [cluster]) included: one image for both modes.
RUN pip wheel --wheel-dir /wheels '.[cluster]'

# --- Stage 2: the runtime image: no build tools, no sources, not root ----------------------
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="monitor" \
      org.opencontainers.image.description="Synthetic uptime monitor that keeps a public status page honest" \
      org.opencontainers.image.licenses="MIT"
# PYTHONDONTWRITEBYTECODE: the venv is root-owned, read-only for the daemon, and pip compiled
# it already. PYTHONFAULTHANDLER: a fatal signal (SIGABRT, SIGSEGV) prints every thread's Python
# traceback to stderr. MONITOR_CONFIG: `docker exec monitor monitor status` (or validate,
# check) finds the config without -c.
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONFAULTHANDLER=1 \
    PATH=/opt/monitor/bin:$PATH \
    MONITOR_CONFIG=/etc/monitor/checks.toml

# Install from the wheels alone (--no-index: nothing is fetched), mounted from stage 1 rather
# than copied so that they don't stay in a layer (RUN --mount needs BuildKit, Docker's default
# builder since 23.0; buildah and podman support it too).
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m venv /opt/monitor \
    && /opt/monitor/bin/pip install --no-index --find-links=/wheels 'monitor[cluster]' \
    && monitor --version

# A fixed, unprivileged UID/GID (10001), so files on the volume keep a known owner across
# image rebuilds, and Kubernetes' runAsNonRoot can check it. /var/lib/monitor is created
# owned by it BEFORE the VOLUME line: a new named volume is initialised from the image,
# ownership included. (A bind-mounted host folder must be made writable for 10001 by hand.)
RUN groupadd --gid 10001 monitor \
    && useradd --uid 10001 --gid monitor --no-create-home \
       --home-dir /var/lib/monitor --shell /usr/sbin/nologin monitor \
    && mkdir -p /var/lib/monitor \
    && chown 10001:10001 /var/lib/monitor \
    && chmod 0750 /var/lib/monitor

# The default config: the shipped checks.toml adapted for a container (listens on 0.0.0.0 so
# -p 9464:9464 reaches it; the database on the volume). Mount your own over it, read-only.
# It stays root-owned: the daemon reads it and never writes it.
COPY docker/checks.toml /etc/monitor/checks.toml

USER 10001:10001
WORKDIR /var/lib/monitor
# The database (monitor.db and its -wal/-shm): probe results, statuses, incidents and the
# outbox of changes not yet published. Keep it across containers, or restarts forget state.
VOLUME ["/var/lib/monitor"]
# /metrics, /healthz and /status.json ([monitor] listen in the config).
EXPOSE 9464

# No curl in slim images: Python's urllib. A 503 from /healthz (scheduler stopped, database
# not writable or stalled) raises HTTPError, as does a refused connection: exit 1, unhealthy.
# If your config listens on another port, override it: docker run --health-cmd ...
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=4)"]

# Exec form, no shell: monitor itself is PID 1 and receives `docker stop`'s SIGTERM (and
# `docker kill -s HUP` to reload the config). It installs its own handlers for both (a PID 1
# without a handler would ignore SIGTERM): on SIGTERM it gives probes in flight up to 2 s,
# writes every result and exits 0, well inside Docker's default 10 s stop timeout. It starts
# no child processes, so nothing needs reaping and no init (tini, --init) is required.
STOPSIGNAL SIGTERM
ENTRYPOINT ["monitor"]
CMD ["run", "-c", "/etc/monitor/checks.toml", "--log-format", "json"]
