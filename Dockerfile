# The Overture operator image: `overture operator` as a non-root user.
#   docker build -t overture:dev .        (or buildah bud -t overture:dev .)
# Three stages. The ui stage builds the web UI's files (`overture ui`); the builder turns the project and its dependencies into wheels and installs them
# into a virtualenv; the runtime stage copies only that virtualenv onto a fresh slim Python:
# no compilers, no build tools, no pip caches, no sources. Linted by tests/unit/test_dockerfile.py
# (hadolint and the project's own rules). Without a Docker engine, hack/image.sh builds the same
# layout from the local cluster's base image.
ARG PYTHON_IMAGE=python:3.12-slim
ARG NODE_IMAGE=node:20-slim

# The web UI's files, built from the committed lockfile; they ship inside the Python package.
FROM ${NODE_IMAGE} AS ui
WORKDIR /src/ui
COPY ui/package.json ui/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY ui ./
RUN npm run build

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
COPY --from=ui /src/operator/overture/ui/static ./operator/overture/ui/static
# Every dependency ships manylinux wheels, so nothing is compiled; the virtualenv keeps pip out
# of the runtime image's system Python. `overture operator` runs as python -OO (no docstrings:
# process_memory.without_docstrings), so the bytecode it reads is compiled here too: the image
# sets PYTHONDONTWRITEBYTECODE, and each start would compile every module again.
RUN pip wheel --no-cache-dir --wheel-dir /wheels . \
 && python -m venv /opt/overture \
 && /opt/overture/bin/pip install --no-cache-dir --no-index --find-links /wheels /wheels/overture-*.whl \
 && /opt/overture/bin/pip uninstall --yes pip \
 && /opt/overture/bin/python -m compileall -q -j 0 -o 2 /opt/overture/lib

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="overture" \
      org.opencontainers.image.description="Kubernetes-native declarative data orchestrator (operator and CLI)" \
      org.opencontainers.image.licenses="Apache-2.0"
# A fixed uid/gid (10001), matching the chart's runAsUser, so runAsNonRoot can be verified.
RUN groupadd --system --gid 10001 overture \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin overture
COPY --from=builder /opt/overture /opt/overture
ENV PATH=/opt/overture/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
# /healthz, /readyz, /metrics and webhooks; 8090: `overture ui` (the chart's ui.enabled)
EXPOSE 8080 8090
ENTRYPOINT ["overture"]
CMD ["operator"]
