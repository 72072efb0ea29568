#!/usr/bin/env bash
# GPU figures for the segmentation path, in one short run on a lent device machine.
#
#   bench/gpu_check.sh prepare   # here: wheels + the MNI scan into .gpu/ (ignored by git)
#   bench/gpu_check.sh run       # there: install them, then bench/gpu_segmentation.py
#
# With the session's device tool: run `prepare` here first, then
#   run(command="bash bench/gpu_check.sh run", carry=[".gpu"], timeout_s=420)
# The device machine has Python 3.12 with CUDA torch, numpy and SciPy, and no network: what
# else the segmentation path imports travels as wheels (about 30 MB, under the 64 MiB limit).
# Meshing needs VTK and open3d (too large to carry) and is CPU code anyway: it is left out.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=.gpu

case "${1:-}" in
prepare)
  mkdir -p "$dir"
  grep -qx "/$dir/" .git/info/exclude 2>/dev/null || echo "/$dir/" >> .git/info/exclude
  pins=$(grep -hE '^(monai|nibabel|deepbet|connected-components-3d|fill_voids)==' requirements/*.txt)
  # fill_voids needs fastremap; deepbet's other needs (a GUI, pandas, tqdm) are never imported.
  for pin in $pins fastremap; do
    .venv/bin/pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
      --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 \
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$dir" "$pin"
  done
  .venv/bin/python - "$dir" <<'EOF'
import shutil, sys
from pathlib import Path
import nilearn
name = "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
shutil.copy(Path(nilearn.__file__).parent / "datasets" / "data" / name, Path(sys.argv[1]) / name)
EOF
  du -sh "$dir"
  ;;
run)
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site "$dir"/*.whl
  export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  python3 bench/gpu_segmentation.py --repeats 5 \
    --scan "$dir/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz" 2>&1 | tee "${OUT:-/tmp}/gpu.md"
  ;;
*)
  echo "usage: $0 prepare|run" >&2
  exit 2
  ;;
esac
