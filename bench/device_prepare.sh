#!/usr/bin/env bash
# Here (the machine without a GPU), before a lent GPU run of bench/device_bench.sh: put what that machine
# lacks into two git-ignored folders of the checkout that the device tool's `carry` takes along.
#   .whl/      wheels of this package's non-torch dependencies (the GPU image has torch, numpy, numba and
#              tqdm, but not bitarray or pydantic); CPython 3.12, x86-64, as that image runs
#   .devdata/  the SASRec 5-core MovieLens-1M file the suite trains on (never committed: GroupLens forbids
#              redistribution; .git/info/exclude keeps it out of git)
# Then: run(command="bash bench/device_bench.sh", carry=[".whl", ".devdata"], timeout_s=540).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${MGQE_DATA_DIR:-$(cd .. && pwd)/shared/data}"
if [ ! -x .venv/bin/python ]; then
  echo "device_prepare: no .venv here (make test or make run creates it); its package versions are the ones fetched" >&2
  exit 2
fi
if [ ! -f "$DATA/ml-1m/sasrec/ml-1m.txt.gz" ] && [ ! -f "$DATA/ml-1m/sasrec/ml-1m.txt" ]; then
  echo "device_prepare: no SASRec file under $DATA/ml-1m/sasrec (set MGQE_DATA_DIR)" >&2
  exit 2
fi
EXCLUDE="$(git rev-parse --git-path info/exclude)"
mkdir -p "$(dirname "$EXCLUDE")"
for p in /.whl/ /.devdata/; do grep -qxF "$p" "$EXCLUDE" 2>/dev/null || echo "$p" >> "$EXCLUDE"; done
rm -rf .whl .devdata
mkdir -p .devdata/ml-1m .whl
cp -r "$DATA/ml-1m/sasrec" .devdata/ml-1m/
PY="${PYTHON:-python3}"
plat=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
      --platform manylinux2014_x86_64)
# the versions this checkout's .venv runs, so the GPU run uses what CI tests
ver() { .venv/bin/python -c "import importlib.metadata as m; print(m.version('$1'))"; }
for pkg in bitarray pydantic pydantic-core annotated-types typing-inspection typing-extensions; do
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${plat[@]}" -d .whl "$pkg==$(ver "$pkg")"
done
ls .whl .devdata/ml-1m/sasrec
