#!/usr/bin/env bash
# The wrangler build command: compiles the worker to wasm with local tools only.
# CP_SKIP_BUILD=1 makes it a no-op (the test harness builds once, before starting wrangler).
set -euo pipefail
[ "${CP_SKIP_BUILD:-}" = 1 ] && exit 0
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-wasm-bindgen}"
export ESBUILD_BIN="${ESBUILD_BIN:-$PWD/node_modules/.bin/esbuild}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$PWD/node_modules/.bin/wasm-opt}"
exec worker-build --release
