#!/usr/bin/env bash
# Install the peers the benchmarks compare doorstep with, each in its own virtual environment
# under bench/.data/venvs/ (git-ignored): their pins clash with doorstep's and with each other's.
# Versions are pinned here so every run measures the same releases.
#   decision service (bench_service.py): mlserver, bentoml
#   drift statistics (bench_drift.py):   evidently, nannyml
#
#   bench/peers/setup.sh              # every peer
#   bench/peers/setup.sh mlserver     # one of them
#   bench/peers/setup.sh evidently nannyml
#
# Needs python3 with venv and access to PyPI. Takes a few minutes; safe to run again.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENVS="$ROOT/bench/.data/venvs"
PYTHON="${PYTHON:-python3}"
UV="$ROOT/.tools/bin/uv"

# The model's library at the same version as doorstep's environment (uv.lock).
LIGHTGBM="lightgbm==4.7.0"
# uvloop 0.22 made get_event_loop() raise where no loop runs, which MLServer's parallel workers
# (used with 2 workers) still call: keep the release it was made with.
MLSERVER=("mlserver==1.7.1" "mlserver-lightgbm==1.7.1" "$LIGHTGBM" "uvloop<0.22")
BENTOML=("bentoml==1.4.38" "$LIGHTGBM" "numpy<3" "pandas")
# (bentoml 1.4.40 needs certifi>=2026.10.19, not on every index yet; 1.4.38 is the newest that installs here.)
# Both drift peers need pandas < 3; NannyML also imports statsmodels without declaring it.
# pyarrow lets them (and the benchmark's loader) read the Parquet files.
EVIDENTLY=("evidently==0.7.23" "pandas<3" "pyarrow")
NANNYML=("nannyml==0.13.1" "pandas<3" "statsmodels" "pyarrow")

install() {
  local name="$1"
  shift
  local venv="$VENVS/$name"
  if [[ -x "$UV" ]]; then  # uv when the project's bootstrap installed it: seconds, not minutes
    [[ -x "$venv/bin/python" ]] || UV_PYTHON_DOWNLOADS=never "$UV" venv --quiet --python "$(command -v "$PYTHON")" "$venv"
    "$UV" pip install --quiet --python "$venv/bin/python" "$@"
    "$UV" pip freeze --python "$venv/bin/python" >"$venv/freeze.txt"
  else
    [[ -x "$venv/bin/python" ]] || "$PYTHON" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q "$@"
    "$venv/bin/python" -m pip freeze >"$venv/freeze.txt"
  fi
  echo "$name: installed into $venv ($(wc -l <"$venv/freeze.txt") packages)"
}

mkdir -p "$VENVS"
targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=(mlserver bentoml evidently nannyml)
for target in "${targets[@]}"; do
  case "$target" in
    mlserver) install mlserver "${MLSERVER[@]}" ;;
    bentoml) install bentoml "${BENTOML[@]}" ;;
    evidently) install evidently "${EVIDENTLY[@]}" ;;
    nannyml) install nannyml "${NANNYML[@]}" ;;
    *) echo "unknown peer: $target (mlserver, bentoml, evidently, nannyml)" >&2; exit 2 ;;
  esac
done
