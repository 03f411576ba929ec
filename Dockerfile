# The Overture operator image: `overture operator` as a non-root user.
#   docker build -t overture:dev .        (or buildah bud -t overture:dev .)
# Two stages. The builder turns the project and its dependencies into wheels and installs them
# into a virtualenv; the runtime stage copies only that virtualenv onto a fresh slim Python:
# no compilers, no build tools, no pip caches, no sources. Linted by tests/unit/test_dockerfile.py
# (hadolint and the project's own rules). Without a Docker engine, hack/image.sh builds the same
# layout from the local cluster's base image.
ARG PYTHON_IMAGE=python:3.12-slim

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
# Every dependency ships manylinux wheels, so nothing is compiled; the virtualenv keeps pip out
# of the runtime image's system Python.
RUN pip wheel --no-cache-dir --wheel-dir /wheels . \
 && python -m venv /opt/overture \
 && /opt/overture/bin/pip install --no-cache-dir --no-index --find-links /wheels /wheels/overture-*.whl \
 && /opt/overture/bin/pip uninstall --yes pip

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
# /healthz, /readyz, /metrics and webhooks
EXPOSE 8080
ENTRYPOINT ["overture"]
CMD ["operator"]
