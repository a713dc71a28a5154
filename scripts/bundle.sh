#!/usr/bin/env bash
# Writes the deploy bundle exactly as `wrangler deploy` would upload it (a dry run: nothing
# is uploaded) into build/deploy, prints its size, and fails when wrangler cannot bundle it
# or it is over the platform's 3 MB compressed limit. Expects the worker already built.
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/deploy
rm -rf "$out"
if ! CP_SKIP_BUILD=1 WRANGLER_SEND_METRICS=false node_modules/.bin/wrangler deploy --dry-run \
    --outdir "$out" > build/deploy.log 2>&1; then
  cat build/deploy.log
  echo "wrangler could not bundle the worker for deploy" >&2
  exit 1
fi
raw=0
gz=0
for f in "$out"/*; do
  case "$f" in *.wasm | *.js) ;; *) continue ;; esac
  raw=$((raw + $(wc -c < "$f")))
  gz=$((gz + $(gzip -9 -c "$f" | wc -c)))
done
echo "deploy bundle ($out): $raw bytes raw, $gz bytes gzip -9"
limit=$((3 * 1024 * 1024))
if [ "$gz" -gt "$limit" ]; then
  echo "the bundle is over the 3 MB compressed limit ($gz > $limit)" >&2
  exit 1
fi
