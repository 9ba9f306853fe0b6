#!/usr/bin/env bash
# On a lent GPU machine (the device tool's `run`, from the repository root; prepared here by
# bench/device_prepare.sh): the suite's cells timed on CPU and CUDA side by side (bench/bench_device.py),
# written to $OUT as JSON and Markdown. Commit them as results/bench_device.json and docs/bench-device.md.
set -euo pipefail
OUT="${OUT:?set OUT to the folder the results go to}"
PY="${PYTHON:-python3}"
if compgen -G ".whl/*.whl" >/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
fi
# the package layout the editable install gives (mgqe.proto -> proto/ ...), without installing
rm -rf /tmp/pkg && mkdir -p /tmp/pkg/mgqe
cp mgqe/__init__.py /tmp/pkg/mgqe/
for d in proto trainer server; do ln -s "$PWD/$d" "/tmp/pkg/mgqe/$d"; done
export PYTHONPATH="/tmp/site:/tmp/pkg${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export MGQE_DATA_DIR="${MGQE_DATA_DIR:-$PWD/.devdata}"
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
"$PY" bench/bench_device.py --epochs "${EPOCHS:-2}" --backbones "${BACKBONES:-gmf,neumf,sasrec}" \
  --methods "${METHODS:-FE,MGQE}" --out-json "$OUT/bench_device.json" --out-md "$OUT/bench-device.md" \
  "$@" 2>&1 | tee "$OUT/log.txt"
