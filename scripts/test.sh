#!/usr/bin/env bash
# Runs every test: the Rust suites (unit, property, and integration over HTTP), then
# against the real server binary: Microsoft's Graph SDKs over HTTPS (the beta SDK for
# Python; for JavaScript the classic client and the Kiota beta SDK), the status page
# in Debian's Chromium, and schemathesis holding /openapi.json to the live server;
# clippy beside them; then the packages and the image from the built binary.
# With DATABASE_URL set, the integration tests and those suites run on PostgreSQL too.
set -euo pipefail
cd "$(dirname "$0")/.."

# Builds the binary too: the integration tests start it.
cargo test
# The benches' own arguments, without running any load: --help prints help and an
# unknown argument is an error (clap), for both.
for bench in api heartbeat; do
  cargo test -q --bench "$bench" -- --help | grep -q "^Usage: cargo bench --bench $bench --"
  if cargo test -q --bench "$bench" -- --no-such-flag >/dev/null 2>&1; then
    echo "the $bench bench accepted an unknown argument" >&2
    exit 1
  fi
done
echo "== [${SECONDS}s] the Rust suites passed"

target_dir=$(realpath "${CARGO_TARGET_DIR:-target}")
export CLOUDPC_PARTNERS_BIN="$target_dir/debug/cloudpc-partners"

# Python: virtualenvs under target/, made and filled by uv (from PyPI, into its own
# small virtualenv): it installs the large Graph SDK in seconds from its cache, where
# pip takes over a minute unpacking it.
uv_venv="$target_dir/uv-venv"
if [ ! -x "$uv_venv/bin/uv" ]; then
  python3 -m venv "$uv_venv"
  "$uv_venv/bin/pip" install --quiet --disable-pip-version-check "uv==0.13.9"
fi
uv="$uv_venv/bin/uv"
fresh_venv() { # $1: the virtualenv to make anew; the rest: what to install in it
  local dir=$1; shift
  rm -rf "$dir"
  "$uv" venv --quiet --python python3 "$dir"
  "$uv" pip install --quiet --python "$dir/bin/python" "$@"
}
python_env() { # $1: the requirements file, $2: the virtualenv, rebuilt when the file changes
  if ! cmp -s "$1" "$2/.requirements" 2>/dev/null; then
    echo "setting up $1 in $2"
    fresh_venv "$2" -r "$1"
    cp "$1" "$2/.requirements"
  fi
}
venv="$target_dir/sdk-venv"
python_env tests/sdk/requirements.txt "$venv"
openapi_venv="$target_dir/openapi-venv"
python_env tests/openapi/requirements.txt "$openapi_venv"

# JavaScript: the clients (and the browser driver) exactly as the lock files pin them.
node_modules() { # $1: the package folder
  if ! cmp -s "$1/package-lock.json" "$1/node_modules/.installed-lock" 2>/dev/null; then
    echo "installing $1/node_modules"
    npm ci --prefix "$1" --no-audit --no-fund --loglevel=error
    cp "$1/package-lock.json" "$1/node_modules/.installed-lock"
  fi
}
js=tests/sdk-js
node_modules "$js"
node_modules tests/browser

# The status page is tested in Debian's Chromium, installed here when missing.
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "Chromium is missing and this is not root: run 'apt-get install chromium' as root, then this again." >&2
    exit 1
  fi
  echo "installing Debian's chromium"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

sdk_suites() { # $1: a database URL, or empty for the embedded database
  CLOUDPC_PARTNERS_SDK_DATABASE="$1" "$venv/bin/python" -m pytest -q -p no:cacheprovider -W ignore::DeprecationWarning tests/sdk
  node "$js/run.mjs" ${1:+"$1"}
  CLOUDPC_PARTNERS_DATABASE="$1" node --test tests/browser/
  "$openapi_venv/bin/python" tests/openapi/run.py "$openapi_venv/bin/schemathesis" ${1:+"$1"}
}

# /metrics held to Prometheus' own conventions: promtool (Debian's prometheus
# package, installed here when missing) checks a live scrape, after a request.
if ! command -v promtool >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "promtool is missing and this is not root: run 'apt-get install prometheus' as root, then this again." >&2
    exit 1
  fi
  echo "installing Debian's prometheus (for promtool)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
metrics_dir=$(mktemp -d)
env -u DATABASE_URL "$CLOUDPC_PARTNERS_BIN" serve --listen 127.0.0.1:0 --in-memory --data-dir "$metrics_dir" \
  >"$metrics_dir/out" 2>"$metrics_dir/err" &
metrics_pid=$!
for _ in $(seq 100); do grep -q "^listening on" "$metrics_dir/out" && break; sleep 0.1; done
metrics_url=$(sed -n 's/^listening on //p' "$metrics_dir/out")
if [ -z "$metrics_url" ]; then
  echo "the server for the metrics check did not start:" >&2
  cat "$metrics_dir/err" >&2
  exit 1
fi
python3 -c 'import sys, urllib.request as u; u.urlopen(sys.argv[1] + "/healthz").read(); sys.stdout.write(u.urlopen(sys.argv[1] + "/metrics").read().decode())' "$metrics_url" >"$metrics_dir/metrics"
kill "$metrics_pid"; wait "$metrics_pid" || true
grep -q '^cloudpc_partners_build_info{' "$metrics_dir/metrics"
grep -q '^process_resident_memory_bytes ' "$metrics_dir/metrics"
promtool check metrics <"$metrics_dir/metrics"
rm -rf "$metrics_dir"
echo "== [${SECONDS}s] /metrics passes promtool check metrics"

# The lints run beside the SDK halves, which mostly wait on their clients and
# servers: clippy checks only this crate's targets (the dependencies' metadata is the
# test build's), a minute that would otherwise come at the end.
cargo clippy --all-targets -- -D warnings >"$target_dir/clippy.log" 2>&1 &
clippy_pid=$!

# The embedded and the PostgreSQL halves run side by side (each mostly waits on its
# clients and servers), each into its own log, shown when both have ended.
halves=()
sdk_half() { # $1: a name, $2: a database URL or empty
  (set -e; sdk_suites "$2") >"$target_dir/sdk-$1.log" 2>&1 &
  halves+=("$1:$!")
}
echo "== [${SECONDS}s] Graph SDKs, the status page in Chromium and the OpenAPI document (schemathesis), on the embedded database${DATABASE_URL:+ and on PostgreSQL, side by side}"
sdk_half embedded ""

if [ -n "${DATABASE_URL:-}" ]; then
  # A throwaway schema, so the SDK runs leave nothing behind.
  schema="sdk_$(date +%s)_$$"
  export PGOPTIONS="--client-min-messages=warning"
  psql -q "$DATABASE_URL" -c "CREATE SCHEMA $schema"
  trap 'psql -q "$DATABASE_URL" -c "DROP SCHEMA IF EXISTS $schema CASCADE"' EXIT
  sep='?'; case "$DATABASE_URL" in *\?*) sep='&';; esac
  sdk_half postgresql "${DATABASE_URL}${sep}options=-c%20search_path%3D${schema}"
fi

failed=""
for half in "${halves[@]}"; do
  name=${half%%:*}
  if wait "${half#*:}"; then status=passed; else status=FAILED; failed="$failed $name"; fi
  echo "---- the $name half: $status"
  cat "$target_dir/sdk-$name.log"
done
if [ -n "$failed" ]; then
  echo "*** SDK, browser or OpenAPI suites failed on:$failed ***" >&2
  exit 1
fi
echo "== [${SECONDS}s] the SDK, browser and OpenAPI suites passed"
if ! wait "$clippy_pid"; then
  cat "$target_dir/clippy.log" >&2
  echo "*** cargo clippy --all-targets -- -D warnings failed ***" >&2
  exit 1
fi
echo "== [${SECONDS}s] clippy passed"

# The Python wheel: maturin builds it with the tests' own cargo profile (a cache hit:
# nothing is compiled twice), then the plugin's suite runs in a fresh virtualenv that
# holds only the built wheel, the Graph SDK and pytest, from outside the repository.
echo "== [${SECONDS}s] the Python wheel and its pytest plugin, installed from the built artifact"
python_env tests/package/build-requirements.txt "$target_dir/package-venv"
rm -rf "$target_dir/wheels"
"$target_dir/package-venv/bin/maturin" build --profile dev --out "$target_dir/wheels" 2>&1 | grep -v '^ *Compiling' || true
test -n "$(ls "$target_dir"/wheels/cloudpc_partners-*.whl)"
echo "   [${SECONDS}s] wheel built"
wheel_venv="$target_dir/wheel-venv"
fresh_venv "$wheel_venv" "$target_dir"/wheels/cloudpc_partners-*.whl -r tests/package/requirements.txt
echo "   [${SECONDS}s] wheel installed"
package_tests=$(realpath tests/package)
(cd "$target_dir" && env -u CLOUDPC_PARTNERS_BIN "$wheel_venv/bin/python" -m pytest -q -n 2 -p no:cacheprovider \
  -W ignore::DeprecationWarning "$package_tests")

# The npm packages: packed (the launcher with its test helper, and the Linux x64 one
# carrying the binary the tests built), installed from the tarballs into an empty
# project, and used there through startStandIn() with Microsoft's Graph client.
echo "== [${SECONDS}s] the npm packages, installed from their tarballs"
scripts/npm-test.sh "$target_dir/debug/cloudpc-partners"

# The release workflow cannot run here; it must at least be valid and consistent.
"$openapi_venv/bin/python" scripts/check-workflow.py .github/workflows/release.yml

# The container image, from the binary the tests built (its debug information
# stripped): podman needs root.
if [ "$(id -u)" -eq 0 ]; then
  echo "== [${SECONDS}s] the container image (podman)"
  scripts/container-test.sh "$target_dir/debug/cloudpc-partners"
else
  echo "*** container image SKIPPED: building and running it with podman needs root ***"
fi

echo "== [${SECONDS}s] all passed"

if [ -z "${DATABASE_URL:-}" ]; then
  # Said last, so it is not lost above: those tests returned early and were counted.
  echo
  echo "*** PostgreSQL half SKIPPED: DATABASE_URL is not set; its integration tests returned at once and the SDK suites ran on the embedded database only. ***"
fi
