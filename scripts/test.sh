#!/usr/bin/env bash
# Every test of the course, in order: lint, unit and browser tests, exercises in sync with the
# solutions, the chapters under strict nbval, the solutions under lax nbval.
set -euo pipefail
py="${1:-.venv/bin/python}"
export MPLBACKEND=Agg PYTHONHASHSEED=0
# The test budget (quick runs) against outputs committed from the learning budget: the cells
# whose output depends on it are tagged nbval-ignore-output or sanitized (tests/nbval_sanitize.cfg).
export DCG_QUICK=1 DCG_PROGRESS=text
# Numbers in notebooks must not depend on how many threads a loaded machine gives BLAS.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
echo "== data: ${DCG_DATA:-bundled samples in data/samples (set DCG_DATA for the full sets)}"
echo "== ruff";            "$py" -m ruff check .
echo "== exercises";       "$py" -m course.exercises --check
echo "== unit tests";      "$py" -m pytest tests -p no:cacheprovider -q
# The op and module parity tests again, on the CPU stand-in for a GPU (engine/strict.py): every
# array a CuPy array would be, numpy refused. ~11 s. The same files run on CUDA: make gpu-check.
echo "== parity on the strict device"
"$py" -m pytest $(cat tests/device_parity_files.txt) --engine-device=strict -p no:cacheprovider -q
# nbval on a folder, strict or lax; a folder without notebooks is reported, not failed
# (pytest's exit code 5, "no tests collected").
nbval() {
  local mode="$1" dir="$2"; shift 2
  if ! compgen -G "$dir/*.ipynb" >/dev/null; then echo "   (no notebooks in $dir/)"; return 0; fi
  local rc=0
  "$py" -m pytest "$mode" "$dir" --nbval-current-env --nbval-cell-timeout 300 \
    -p no:cacheprovider -q "$@" || rc=$?
  [ "$rc" = 5 ] && { echo "   (nothing collected in $dir/)"; return 0; }
  return "$rc"
}
echo "== chapters";        nbval --nbval chapters --nbval-sanitize-with tests/nbval_sanitize.cfg
echo "== solutions";       nbval --nbval-lax solutions
