#!/usr/bin/env bash
# The wrangler build command: compiles the worker to wasm and bundles it with its entry module
# (src/entry.js) into build/index.js and build/index_bg.wasm, with local tools only: cargo,
# wasm-bindgen (setup.sh installs it), wasm-opt (binaryen) and esbuild (both from npm).
# These are worker-build's steps, with our own entry module instead of the one it generates
# (src/entry.js says why).
# CP_SKIP_BUILD=1 makes it a no-op (the test harness builds once, before starting wrangler).
# CP_FEATURES and CP_OUT build a variant elsewhere (tests/recovery.rs: panic-probe, build/probe).
set -euo pipefail
[ "${CP_SKIP_BUILD:-}" = 1 ] && exit 0
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

# wasm-bindgen's macros wrap async exports with js_sys's futures, as under worker-build.
WASM_BINDGEN_USE_JS_SYS=1 cargo build --lib --release --target wasm32-unknown-unknown \
  --features "${CP_FEATURES:-}"

out=${CP_OUT:-build}
stage=$out/.stage
rm -rf "$stage"
mkdir -p "$stage"
# The reset function and the abort handler let a broken instance be replaced (src/entry.js).
wasm-bindgen target/wasm32-unknown-unknown/release/control_plane.wasm --out-dir "$stage" \
  --out-name index --target module --no-typescript \
  --experimental-reset-state-function --force-enable-abort-handler

# `--low-memory-unused`: the first KiB of linear memory is the bottom of Rust's stack (the
# stack comes first and grows down), never addressed, so wasm-opt may fold constant offsets
# into loads and stores. `--debuginfo` keeps the `name` section, so that stack traces name
# functions (wasm-opt drops it without; `--strip-debug` would strip it too), and
# `--strip-dwarf` drops any DWARF. The features are the ones workerd runs, as worker-build
# lists them.
node_modules/.bin/wasm-opt "$stage/index_bg.wasm" -o "$stage/index_bg.wasm" -Oz \
  --low-memory-unused --debuginfo --strip-dwarf --strip-producers \
  --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int \
  --enable-bulk-memory --enable-multivalue --enable-reference-types --enable-exception-handling

cp src/entry.js "$stage/entry.js"
node_modules/.bin/esbuild "$stage/entry.js" --bundle --format=esm --minify --log-level=warning \
  --external:./index_bg.wasm '--external:cloudflare:*' --outfile="$stage/bundle.js"
# The glue imports the module in the source phase; the runtime takes a plain import.
sed 's/import source /import /' "$stage/bundle.js" > "$stage/index.js"
mv "$stage/index_bg.wasm" "$out/index_bg.wasm"
mv "$stage/index.js" "$out/index.js"
rm -rf "$stage" "$out/worker" "$out/package.json"
