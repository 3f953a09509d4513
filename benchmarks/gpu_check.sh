#!/usr/bin/env bash
# The checks that need a GPU, in one run (for a session lent a CUDA machine):
# every trainer on CUDA under set_sync_debug_mode("error"), then the speed of the
# trainer beside a plain eager loop. Usage: bash benchmarks/gpu_check.sh [PYTHON]
set -uo pipefail
cd "$(dirname "$0")/.."
python=${1:-.venv/bin/python}
"$python" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
"$python" -m pytest -q -m gpu tests/gpu
"$python" benchmarks/gpu_speed.py
