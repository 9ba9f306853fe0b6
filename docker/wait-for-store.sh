#!/bin/sh
# Server entrypoint: wait until the artifact store holds at least one published model (<store>/<model>/CURRENT),
# then exec mgqe-serve. A fresh compose deployment starts the server before the trainer's first publish.
#   MGQE_STORE (default /store)  MGQE_HOST (0.0.0.0)  MGQE_PORT (8000)
#   MGQE_WAIT_TIMEOUT  seconds to wait, 0 = forever (default); on timeout exit 1 (compose restarts on failure)
set -eu
store="${MGQE_STORE:-/store}"
timeout="${MGQE_WAIT_TIMEOUT:-0}"
waited=0
until ls "$store"/*/CURRENT >/dev/null 2>&1; do
  if [ "$waited" -eq 0 ]; then echo "waiting for a published model in $store ..." >&2; fi
  if [ "$timeout" -gt 0 ] && [ "$waited" -ge "$timeout" ]; then
    echo "no published model in $store after ${timeout}s (run the trainer: docker compose run trainer)" >&2
    exit 1
  fi
  sleep 2
  waited=$((waited + 2))
done
exec mgqe-serve --store "$store" --host "${MGQE_HOST:-0.0.0.0}" --port "${MGQE_PORT:-8000}" "$@"
