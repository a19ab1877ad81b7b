#!/usr/bin/env bash
# Runs every test: the Rust suites (unit, property, and integration over HTTP), then
# Microsoft's Graph SDKs against the real server binary, over HTTPS: the beta SDK for
# Python, and for JavaScript the classic client and the Kiota beta SDK. With
# DATABASE_URL set, the integration tests and both SDK suites run on PostgreSQL too.
set -euo pipefail
cd "$(dirname "$0")/.."

# Builds the binary too: the integration tests start it.
cargo test

target_dir=$(realpath "${CARGO_TARGET_DIR:-target}")
export CLOUDPC_PARTNERS_BIN="$target_dir/debug/cloudpc-partners"

# Python: the SDK in a virtualenv under target/, rebuilt when requirements change.
venv="$target_dir/sdk-venv"
stamp="$venv/.requirements"
if ! cmp -s tests/sdk/requirements.txt "$stamp" 2>/dev/null; then
  echo "setting up the Python Graph SDK in $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/sdk/requirements.txt
  cp tests/sdk/requirements.txt "$stamp"
fi

# JavaScript: the clients exactly as the lock file pins them.
js=tests/sdk-js
if ! cmp -s "$js/package-lock.json" "$js/node_modules/.installed-lock" 2>/dev/null; then
  echo "installing the JavaScript Graph clients in $js/node_modules"
  npm ci --prefix "$js" --no-audit --no-fund --loglevel=error
  cp "$js/package-lock.json" "$js/node_modules/.installed-lock"
fi

sdk_suites() { # $1: a database URL, or empty for the embedded database
  CLOUDPC_PARTNERS_SDK_DATABASE="$1" "$venv/bin/python" -m pytest -q -W ignore::DeprecationWarning tests/sdk
  node "$js/run.mjs" ${1:+"$1"}
}

echo "== Graph SDKs on the embedded database"
sdk_suites ""

if [ -n "${DATABASE_URL:-}" ]; then
  # A throwaway schema, so the SDK runs leave nothing behind.
  schema="sdk_$(date +%s)_$$"
  export PGOPTIONS="--client-min-messages=warning"
  psql -q "$DATABASE_URL" -c "CREATE SCHEMA $schema"
  trap 'psql -q "$DATABASE_URL" -c "DROP SCHEMA IF EXISTS $schema CASCADE"' EXIT
  sep='?'; case "$DATABASE_URL" in *\?*) sep='&';; esac
  echo "== Graph SDKs on PostgreSQL"
  sdk_suites "${DATABASE_URL}${sep}options=-c%20search_path%3D${schema}"
fi

if [ -z "${DATABASE_URL:-}" ]; then
  # Said last, so it is not lost above: those tests returned early and were counted.
  echo
  echo "*** PostgreSQL half SKIPPED: DATABASE_URL is not set; its integration tests returned at once and the SDK suites ran on the embedded database only. ***"
fi
