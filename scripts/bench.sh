#!/usr/bin/env bash
# Prints the benchmark figures (wasm size, route latencies against a baseline worker).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export WRANGLER_SEND_METRICS=false
bash scripts/setup.sh
bash scripts/build.sh
CP_PREBUILT=1 cargo bench --bench bench
