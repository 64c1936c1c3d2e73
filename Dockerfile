# sre-ai-platform service image. Build it with `make image` (tagged with the chart's appVersion,
# the tag the chart deploys by default), or by hand:
#
#   docker build --build-arg VERSION=$(make -s app-version) -t sre-ai-platform:$(make -s app-version) .
#   make image BASE_IMAGE=<local debian+python3.11 image>
#
# BASE_IMAGE must provide Python 3.11 as `python3` with the venv module: the official
# python:3.11-slim-bookworm, or a Debian bookworm image with python3 + python3-venv. Both stages
# use the same base, so the venv's interpreter link stays valid in the final image.
# Dependencies are pure Python or manylinux wheels: no compiler is needed in either stage.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/venv
WORKDIR /src
# Dependencies first, exactly the versions of requirements/runtime.lock (`make lock`), each checked
# against its hash: what was tested is what runs, and a package replaced on the index fails the
# build. This layer is reused while only app code changes. pip trusts the base image's CA bundle
# when it has one (a base prepared for a TLS-inspecting proxy then just works); otherwise pip's own.
COPY requirements/runtime.lock ./requirements/
RUN if [ -f /etc/ssl/certs/ca-certificates.crt ]; then \
      export PIP_CERT=/etc/ssl/certs/ca-certificates.crt; fi \
 && /opt/venv/bin/pip install --quiet --require-hashes -r requirements/runtime.lock
COPY pyproject.toml README.md ./
COPY app ./app
# Offline from here: the package itself, with no dependency resolution and the locked setuptools
# (no build isolation, so nothing unhashed is fetched). pip compiles the .pyc files once, at build
# time: the running container never writes bytecode (PYTHONDONTWRITEBYTECODE, read-only root
# filesystem).
# The retrieval model's weights are files of the `wordllama` wheel: loading it here proves the
# image carries them (nothing is downloaded at run time; there is no network in this step's
# contract and the loader never asks for one).
RUN /opt/venv/bin/pip install --quiet --no-deps --no-build-isolation --no-index . \
 && /opt/venv/bin/pip uninstall --quiet --yes setuptools \
 && /opt/venv/bin/python -c "import app.main, app.cli" \
 && /opt/venv/bin/python -c "from app.runbooks.embedder import WordLlamaEmbedder as E; E().embed(['ok'])"

FROM ${BASE_IMAGE}
# `make image` and the release workflow pass the chart's appVersion.
ARG VERSION=dev
LABEL org.opencontainers.image.title="sre-ai-platform" \
      org.opencontainers.image.description="SRE assistant answering from runbooks with Claude: bounded cost, circuit breaker, metrics" \
      org.opencontainers.image.version="${VERSION}"
# A fixed numeric uid/gid: Kubernetes' runAsNonRoot can verify it without /etc/passwd.
RUN groupadd --system --gid 10001 sre \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin sre \
 && mkdir -p /var/lib/sre-ai \
 && chown 10001:10001 /var/lib/sre-ai
COPY --from=builder /opt/venv /opt/venv
COPY runbooks /app/runbooks
# The root filesystem can be read-only: the only writable paths are the ledger directory (which
# also keeps the runbook embedding cache) and /tmp, both volumes in the Helm chart.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SRE_AI_RUNBOOKS_DIR=/app/runbooks \
    SRE_AI_LEDGER_PATH=/var/lib/sre-ai/ledger.sqlite3 \
    SRE_AI_EMBEDDING_CACHE_DIR=/var/lib/sre-ai/embeddings \
    OPENBLAS_NUM_THREADS=1
VOLUME ["/var/lib/sre-ai"]
WORKDIR /app
USER 10001:10001
EXPOSE 8000
# No HEALTHCHECK: Kubernetes probes /health/live and /health/ready; the image carries no curl.
CMD ["sre-ai-platform", "--host", "0.0.0.0", "--port", "8000"]
