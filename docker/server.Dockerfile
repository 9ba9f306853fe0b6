# mgqe server image: FastAPI + numpy scoring from the artifact store; no torch, runs as a non-root user.
#
#   docker build -f docker/server.Dockerfile -t mgqe-server .            # from the repository root
#   docker run -p 8000:8000 -v mgqe-store:/store:ro mgqe-server
#
# Build arguments: BASE_IMAGE (any Debian-like image with python3 >= 3.10 and its venv module).
# Offline builds: put wheels into ./wheels first (docker/wheelhouse.sh); when ./wheels holds any wheel, pip
# installs from it only (--no-index), otherwise from the package index.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
# "wheel[s]" matches nothing when there is no wheelhouse; pyproject.toml keeps the COPY valid either way.
COPY pyproject.toml wheel[s] /wheelhouse/
COPY pyproject.toml README.md ./
# Dependencies first (a layer that only changes with pyproject.toml), then the package itself.
RUN python3 -m venv /opt/mgqe \
 && if ls /wheelhouse/*.whl >/dev/null 2>&1; then set -- --no-index --find-links /wheelhouse; fi \
 && /opt/mgqe/bin/python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print('\n'.join(p['dependencies'] + p['optional-dependencies']['serve']))" > /tmp/requirements.txt \
 && /opt/mgqe/bin/pip install "$@" -r /tmp/requirements.txt
COPY mgqe ./mgqe
COPY proto ./proto
COPY server ./server
COPY trainer ./trainer
RUN if ls /wheelhouse/*.whl >/dev/null 2>&1; then set -- --no-index --find-links /wheelhouse; fi \
 && /opt/mgqe/bin/pip install "$@" --no-deps . \
 && if /opt/mgqe/bin/python -c "import torch" 2>/dev/null; then echo "torch must not be in the server image" >&2; exit 1; fi

FROM ${BASE_IMAGE}
COPY --from=build /opt/mgqe /opt/mgqe
COPY docker/healthcheck.py docker/wait-for-store.sh /opt/mgqe/docker/
# /store owned by the service user: an empty named volume mounted there first takes this ownership.
RUN useradd --user-group --uid 10001 --no-create-home --shell /usr/sbin/nologin mgqe \
 && mkdir -p /store && chown mgqe:mgqe /store
ENV PATH=/opt/mgqe/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MGQE_STORE=/store \
    MGQE_HOST=0.0.0.0 \
    MGQE_PORT=8000 \
    MGQE_WAIT_TIMEOUT=0
USER 10001:10001
EXPOSE 8000
# Healthy means ready: every model loaded (GET /v1/health/ready answers 200).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["/opt/mgqe/bin/python", "/opt/mgqe/docker/healthcheck.py"]
# Waits until the store holds a published model, then execs mgqe-serve on $MGQE_STORE $MGQE_HOST:$MGQE_PORT.
ENTRYPOINT ["/opt/mgqe/docker/wait-for-store.sh"]
CMD []
