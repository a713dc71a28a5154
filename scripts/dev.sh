#!/usr/bin/env bash
# Runs the worker locally: installs what is missing, applies the D1 migrations to the
# local database, creates .dev.vars from .dev.vars.example if needed, starts wrangler dev.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export WRANGLER_SEND_METRICS=false
[ -f .dev.vars ] || cp .dev.vars.example .dev.vars
npx wrangler d1 migrations apply DB --local
exec npx wrangler dev "$@"
