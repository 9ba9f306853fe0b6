# mgqe trainer image: PyTorch trainer + pipeline (train -> gate -> export -> publish to the store).
#
#   docker build -f docker/trainer.Dockerfile -t mgqe-trainer .                       # CPU
#   docker build -f docker/trainer.Dockerfile -t mgqe-trainer:cuda \
#     --build-arg BASE_IMAGE=nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04 \
#     --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu126 .           # CUDA (NCCL for DDP)
#   docker run -v mgqe-store:/store -v "$MGQE_DATA_DIR":/data:ro mgqe-trainer
#
# Build arguments: BASE_IMAGE (Debian/Ubuntu-like; python3 is installed with apt when the image lacks it, as
# CUDA base images do), TORCH_INDEX_URL (where torch comes from: the CPU or a CUDA wheel index).
# Offline builds: put wheels into ./wheels first (docker/wheelhouse.sh trainer); when ./wheels holds any
# wheel, pip installs from it only (--no-index), otherwise from the indexes.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS base
ENV DEBIAN_FRONTEND=noninteractive
# hadolint ignore=DL3008
RUN if ! command -v python3 >/dev/null || ! python3 -c "import venv, ensurepip" 2>/dev/null; then \
      apt-get update && apt-get install -y --no-install-recommends python3 python3-venv python3-pip \
      && rm -rf /var/lib/apt/lists/*; \
    fi

FROM base AS build
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_VERSION=2.13.0
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
# "wheel[s]" matches nothing when there is no wheelhouse; pyproject.toml keeps the COPY valid either way.
COPY pyproject.toml wheel[s] /wheelhouse/
COPY pyproject.toml README.md ./
# Dependencies first (a layer that only changes with pyproject.toml), then the package itself.
RUN python3 -m venv /opt/mgqe \
 && if ls /wheelhouse/*.whl >/dev/null 2>&1; then \
      set -- --no-index --find-links /wheelhouse; \
    else \
      /opt/mgqe/bin/pip install --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"; \
    fi \
 && /opt/mgqe/bin/python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print('\n'.join(p['dependencies'] + p['optional-dependencies']['train']))" > /tmp/requirements.txt \
 && /opt/mgqe/bin/pip install "$@" "torch==${TORCH_VERSION}" -r /tmp/requirements.txt
COPY mgqe ./mgqe
COPY proto ./proto
COPY server ./server
COPY trainer ./trainer
RUN if ls /wheelhouse/*.whl >/dev/null 2>&1; then set -- --no-index --find-links /wheelhouse; fi \
 && /opt/mgqe/bin/pip install "$@" --no-deps .

FROM base
COPY --from=build /opt/mgqe /opt/mgqe
WORKDIR /app
COPY configs ./configs
# /store and the run directory belong to the service user; an empty named volume mounted at /store first
# takes this ownership.
RUN useradd --user-group --uid 10001 --create-home --shell /usr/sbin/nologin mgqe \
 && mkdir -p /store /data /app/runs && chown mgqe:mgqe /store /app/runs
ENV PATH=/opt/mgqe/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MGQE_DATA_DIR=/data
USER 10001:10001
# Runs the pipeline once and exits (0: published; 1: gate failed, nothing published; 2: config/data error).
ENTRYPOINT ["mgqe-train"]
CMD ["pipeline", "--config", "configs/main.toml", "--store", "/store"]
