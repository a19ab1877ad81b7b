#!/usr/bin/env bash
# Runs every test: the Rust suites (unit, property, and integration over HTTP) and
# Microsoft's Graph beta SDK for Python against the real server binary.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test
cargo build --bin cloudpc-partners

target_dir=$(realpath "${CARGO_TARGET_DIR:-target}")

# The SDK lives in a virtualenv under target/, rebuilt when requirements change.
venv="$target_dir/sdk-venv"
stamp="$venv/.requirements"
if ! cmp -s tests/sdk/requirements.txt "$stamp" 2>/dev/null; then
  echo "setting up the Graph SDK test environment in $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/sdk/requirements.txt
  cp tests/sdk/requirements.txt "$stamp"
fi
CLOUDPC_PARTNERS_BIN="$target_dir/debug/cloudpc-partners" \
  "$venv/bin/python" -m pytest -q -W ignore::DeprecationWarning tests/sdk
