#!/usr/bin/env bash
# Start a local Docker engine on a machine where none is running and no registry is reachable (CI here; the
# recipe of ../shared/notes/containers.md), and build the local stand-in base image local/debian-py:bookworm.
#   eval "$(docker/dev-engine.sh)"      # prints the exports for DOCKER_HOST and MGQE_BASE_IMAGE
#   docker/dev-engine.sh stop           # stop the engine it started
# Needs root, Debian's docker.io + debootstrap (apt-get install -y docker.io docker-compose debootstrap).
set -euo pipefail
dk="${MGQE_DOCKER_ROOT:-/var/tmp/dk}"
sock="unix://$dk/docker.sock"
if [ "${1:-}" = "stop" ]; then
  [ -f "$dk/dockerd.pid" ] && kill "$(cat "$dk/dockerd.pid")" && echo "stopped dockerd $(cat "$dk/dockerd.pid")" >&2
  exit 0
fi
mkdir -p "$dk"
if ! DOCKER_HOST="$sock" docker info >/dev/null 2>&1; then
  dockerd --iptables=false --ip6tables=false --bridge=none --storage-driver=overlay2 \
    --data-root="$dk/root" --exec-root="$dk/exec" --pidfile="$dk/dockerd.pid" -H "$sock" \
    --default-ulimit nofile=20000:20000 --default-ulimit nproc=4096:4096 >"$dk/dockerd.log" 2>&1 &
  for _ in $(seq 50); do DOCKER_HOST="$sock" docker info >/dev/null 2>&1 && break; sleep 0.2; done
  DOCKER_HOST="$sock" docker info >/dev/null || { echo "dockerd did not start, see $dk/dockerd.log" >&2; exit 1; }
fi
if ! DOCKER_HOST="$sock" docker image inspect local/debian-py:bookworm >/dev/null 2>&1; then
  [ -x "$dk/rootfs/usr/bin/python3" ] || debootstrap --variant=minbase \
    --include=python3,python3-venv,python3-pip,ca-certificates bookworm "$dk/rootfs" >&2
  tar -C "$dk/rootfs" -c . | DOCKER_HOST="$sock" docker import - local/debian-py:bookworm >&2
fi
echo "export DOCKER_HOST=$sock MGQE_BASE_IMAGE=local/debian-py:bookworm"
