#!/usr/bin/env bash
# Download the wheels the images need into ./wheels, for builds without access to a package index (air-gapped
# hosts, or hosts like CI here whose containers cannot verify the index's certificate). The Dockerfiles install
# from ./wheels only (--no-index) whenever it holds a wheel; delete it to build from the index again.
#
#   docker/wheelhouse.sh [server|trainer|all]        (default: all)
#
# Environment: PYTHON (default .venv/bin/python, falling back to python3) runs `pip download`; its Python version
# and platform must match the image's (python:3.11-slim and Debian bookworm: CPython 3.11, x86_64/aarch64),
# or pass e.g. PIP_DOWNLOAD_ARGS="--python-version 3.11 --platform manylinux_2_28_x86_64 --only-binary=:all:".
# WHEELS (default ./wheels).
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
case "$what" in server|trainer|all) ;; *) echo "usage: $0 [server|trainer|all]" >&2; exit 2 ;; esac
py="${PYTHON:-.venv/bin/python}"
[ -x "$py" ] || py=python3
wheels="${WHEELS:-wheels}"
mkdir -p "$wheels"
# The requirement lists come from pyproject.toml, so the wheelhouse cannot drift from the package.
mapfile -t reqs < <("$py" - "$what" <<'PY'
import sys, tomllib
p = tomllib.load(open("pyproject.toml", "rb"))
what = sys.argv[1]
reqs = list(p["build-system"]["requires"]) + list(p["project"]["dependencies"])
extras = p["project"]["optional-dependencies"]
if what in ("server", "all"):
    reqs += extras["serve"]
if what in ("trainer", "all"):
    reqs += extras["train"]
print("\n".join(reqs))
PY
)
# shellcheck disable=SC2086
"$py" -m pip download --quiet --dest "$wheels" ${PIP_DOWNLOAD_ARGS:-} "${reqs[@]}"
echo "$(find "$wheels" -name '*.whl' | wc -l) wheels in $wheels ($(du -sh "$wheels" | cut -f1))"
