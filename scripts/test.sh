#!/usr/bin/env bash
# Runs every check and test: installs what is missing, checks formatting and lints, builds
# the worker once (and once more with routes that panic, for tests/recovery.rs only), then
# runs the native unit tests and the end-to-end tests (which start `wrangler dev` against
# fake upstreams on 127.0.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export WRANGLER_SEND_METRICS=false
bash scripts/setup.sh
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
cargo fmt --check
cargo clippy --all-targets -- -D warnings
cargo clippy --lib --target wasm32-unknown-unknown -- -D warnings
cargo clippy --lib --target wasm32-unknown-unknown --features panic-probe -- -D warnings
bash scripts/build.sh
# The variant with routes that panic, for tests/recovery.rs only.
CP_FEATURES=panic-probe CP_OUT=build/probe bash scripts/build.sh
bash scripts/bundle.sh
CP_PREBUILT=1 cargo test
